from django.urls import path

from apps.accounts import views

app_name = "accounts"

urlpatterns = [
    path("sign-in/", views.login_view, name="login"),
    path("sign-in/code/", views.verify_totp_view, name="verify_totp"),
    path("sign-in/set-up-code/", views.enrol_totp_view, name="enrol_totp"),
    path("sign-out/", views.logout_view, name="logout"),
    path("sign-out-everywhere/", views.sign_out_everywhere_view, name="sign_out_everywhere"),
]
