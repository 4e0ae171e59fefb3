// Healthcheck for the Java images (HAPI FHIR, EHRbase), which ship no shell or curl:
// `java /healthcheck/HttpCheck.java <url>` exits 0 on HTTP 200, 1 otherwise.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

public class HttpCheck {
    public static void main(String[] args) throws Exception {
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        HttpRequest request = HttpRequest.newBuilder(URI.create(args[0])).timeout(Duration.ofSeconds(10)).GET().build();
        try {
            int status = client.send(request, HttpResponse.BodyHandlers.discarding()).statusCode();
            System.exit(status == 200 ? 0 : 1);
        } catch (java.io.IOException error) {
            System.exit(1);
        }
    }
}
