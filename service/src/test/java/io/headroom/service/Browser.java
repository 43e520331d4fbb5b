package io.headroom.service;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A browser for the sign-in tests: keeps cookies (per host and port, as a browser on localhost
 * does, Secure ones included), follows redirects one at a time so each hop can be inspected, and
 * records every response it saw (for the tests that check no token reaches the browser).
 */
final class Browser {

    /** One hop: the request's URI and the answer. */
    record Hop(URI uri, int status, HttpHeaders headers, String body) {
        String location() {
            return headers.firstValue("location").orElse(null);
        }
    }

    private final HttpClient http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER)
            .connectTimeout(Duration.ofSeconds(5)).build();
    /** Cookies by "host:port", then name. */
    private final Map<String, Map<String, String>> jar = new LinkedHashMap<>();
    /** The raw Set-Cookie headers seen, for attribute checks. */
    final List<String> setCookies = new ArrayList<>();
    final List<Hop> seen = new ArrayList<>();

    Hop get(String uri) {
        return send(HttpRequest.newBuilder(URI.create(uri)).GET());
    }

    Hop post(String uri, String contentType, String body, String... headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(uri))
                .POST(HttpRequest.BodyPublishers.ofString(body)).header("content-type", contentType);
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return send(b);
    }

    /** Follows redirects from {@code start} until an answer that is not one; returns every hop. */
    List<Hop> follow(Hop start) {
        List<Hop> hops = new ArrayList<>(List.of(start));
        Hop h = start;
        while (h.status() >= 300 && h.status() < 400 && h.location() != null && hops.size() < 20) {
            h = get(h.uri().resolve(h.location()).toString());
            hops.add(h);
        }
        return hops;
    }

    String cookie(String hostPort, String name) {
        return jar.getOrDefault(hostPort, Map.of()).get(name);
    }

    void setCookie(String hostPort, String name, String value) {
        jar.computeIfAbsent(hostPort, k -> new LinkedHashMap<>()).put(name, value);
    }

    private Hop send(HttpRequest.Builder b) {
        HttpRequest probe = b.build();
        String origin = probe.uri().getHost() + ":" + probe.uri().getPort();
        Map<String, String> cookies = jar.getOrDefault(origin, Map.of());
        if (!cookies.isEmpty()) {
            b.header("cookie", String.join("; ", cookies.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
                    .toList()));
        }
        try {
            HttpRequest request = b.build();
            HttpResponse<String> r = http.send(request, HttpResponse.BodyHandlers.ofString());
            for (String set : r.headers().allValues("set-cookie")) {
                setCookies.add(set);
                String pair = set.split(";", 2)[0];
                int eq = pair.indexOf('=');
                String name = pair.substring(0, eq).trim();
                String value = pair.substring(eq + 1).trim();
                boolean expired = set.toLowerCase(java.util.Locale.ROOT).contains("max-age=0");
                if (expired || value.isEmpty()) {
                    jar.computeIfAbsent(origin, k -> new LinkedHashMap<>()).remove(name);
                } else {
                    jar.computeIfAbsent(origin, k -> new LinkedHashMap<>()).put(name, value);
                }
            }
            Hop hop = new Hop(request.uri(), r.statusCode(), r.headers(), r.body());
            seen.add(hop);
            return hop;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
