package io.headroom.sessions.store;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Token ids stored as little-endian int32 bytes (the {@code token_ids} bytea columns). */
public final class TokenIds {

    private TokenIds() {
    }

    public static byte[] toBytes(int[] ids) {
        ByteBuffer b = ByteBuffer.allocate(ids.length * Integer.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.asIntBuffer().put(ids);
        return b.array();
    }

    public static int[] fromBytes(byte[] bytes) {
        if (bytes.length % Integer.BYTES != 0) {
            throw new IllegalStateException("token id column of " + bytes.length + " bytes is not a whole number of "
                    + "int32 ids");
        }
        int[] ids = new int[bytes.length / Integer.BYTES];
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(ids);
        return ids;
    }
}
