"""Operations tests reuse the document fixtures: any_storage (filesystem and SeaweedFS), scanner, eager_celery."""

from tests.documents.conftest import any_storage, eager_celery, filesystem_storage, s3_storage, scanner  # noqa: F401
