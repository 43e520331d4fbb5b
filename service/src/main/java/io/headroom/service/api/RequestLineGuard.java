package io.headroom.service.api;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.util.ReferenceCountUtil;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import org.springframework.boot.reactor.netty.NettyServerCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import reactor.netty.NettyPipeline;
import tools.jackson.databind.json.JsonMapper;

/**
 * Answers requests that never reach Spring with the OpenAI error envelope: a request line the HTTP
 * decoder refused (too long: 414; headers too large: 431; otherwise 400) and a request URI that is
 * not a valid URI (a malformed percent escape such as {@code /v1/sessions/%ZZ}: 400). Without this,
 * Reactor Netty and Spring's adapter answer those with an empty body. The connection is closed
 * after the answer, since the rest of what the client sent cannot be trusted to frame a request.
 */
final class RequestLineGuard extends ChannelInboundHandlerAdapter {

    private static final JsonMapper JSON = JsonMapper.builder().build();

    /** Discarding the body of a refused request until its last part. */
    private boolean discarding;
    /** Bytes discarded so far; past {@link #MAX_DISCARD} the connection is closed without waiting. */
    private long discarded;
    static final long MAX_DISCARD = 1 << 20;
    /** How long a refused request's body may take to arrive before the connection is closed anyway. */
    static final long DISCARD_TIMEOUT_SECONDS = 5;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (discarding) {
            if (msg instanceof HttpContent c) {
                discarded += c.content().readableBytes();
            }
            if (msg instanceof LastHttpContent || discarded > MAX_DISCARD) {
                discarding = false;
                ctx.close(); // the body is read: closing now sends no reset that could destroy the answer
            } else {
                ctx.read(); // Reactor Netty reads on demand: ask for the rest of the body
            }
            ReferenceCountUtil.release(msg);
            return;
        }
        if (msg instanceof HttpRequest request) {
            String problem = problem(request);
            if (problem != null) {
                HttpResponseStatus status = status(request.decoderResult());
                // after a decoder failure the decoder drops the rest of the input itself: close at once;
                // a well-formed request with a bad URI has its body read (and dropped) first
                boolean failed = request.decoderResult().isFailure();
                discarding = !failed && !(msg instanceof LastHttpContent);
                ReferenceCountUtil.release(msg);
                refuse(ctx, status, problem, !discarding);
                return;
            }
        } else if (msg instanceof HttpContent && discarding) {
            ReferenceCountUtil.release(msg);
            return;
        }
        ctx.fireChannelRead(msg);
    }

    /** What is wrong with the request line, or null when it may go on to Spring. */
    static String problem(HttpRequest request) {
        DecoderResult result = request.decoderResult();
        if (result.isFailure()) {
            Throwable cause = result.cause();
            if (cause instanceof TooLongHttpLineException) {
                return "the request line is longer than this service accepts (shorten the URI)";
            }
            if (cause instanceof TooLongHttpHeaderException || cause instanceof TooLongFrameException) {
                return "the request headers are larger than this service accepts";
            }
            return "the request could not be read as HTTP";
        }
        try {
            new URI(request.uri());
            return null;
        } catch (URISyntaxException e) {
            return "the request URI is not valid: " + e.getReason();
        }
    }

    private static HttpResponseStatus status(DecoderResult result) {
        if (result.isFailure()) {
            if (result.cause() instanceof TooLongHttpLineException) {
                return HttpResponseStatus.REQUEST_URI_TOO_LONG;
            }
            if (result.cause() instanceof TooLongHttpHeaderException) {
                return HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE;
            }
        }
        return HttpResponseStatus.BAD_REQUEST;
    }

    /**
     * Answers and closes the connection: at once when the request is complete, else once its body
     * has been read and discarded (closing with unread bytes would make the kernel reset the
     * connection, and the client could lose the answer).
     */
    private static void refuse(ChannelHandlerContext ctx, HttpResponseStatus status, String message,
            boolean closeNow) {
        ApiException error = new ApiException(org.springframework.http.HttpStatus.valueOf(status.code()),
                "invalid_request_error", message, null, status.code() == 400 ? "invalid_uri" : "request_too_large");
        byte[] body = JSON.writeValueAsString(ApiErrors.envelope(error)).getBytes(StandardCharsets.UTF_8);
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                Unpooled.wrappedBuffer(body));
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON)
                .setInt(HttpHeaderNames.CONTENT_LENGTH, body.length)
                .set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        if (closeNow) {
            ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
        } else {
            ctx.writeAndFlush(response);
            ctx.read(); // reads are on demand: ask for the body, to discard it
            // a client that never sends the rest of its body does not hold the connection open
            ctx.executor().schedule(() -> {
                if (ctx.channel().isOpen()) {
                    ctx.close();
                }
            }, DISCARD_TIMEOUT_SECONDS, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    /** Puts the guard right after Reactor Netty's HTTP/1.1 codec on every connection. */
    @Configuration(proxyBeanMethods = false)
    static class Installer {

        @Bean
        NettyServerCustomizer requestLineGuard() {
            return server -> server.doOnChannelInit((observer, channel, remote) -> {
                if (channel.pipeline().get(NettyPipeline.HttpCodec) != null) {
                    channel.pipeline().addAfter(NettyPipeline.HttpCodec, "headroom.requestLineGuard",
                            new RequestLineGuard());
                }
            });
        }
    }
}
