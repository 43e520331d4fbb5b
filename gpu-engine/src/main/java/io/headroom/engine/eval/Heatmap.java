package io.headroom.engine.eval;

import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/** Renders an accuracy grid (context length × needle depth) as a PNG heatmap, red 0 → green 1. */
public final class Heatmap {

    private Heatmap() {
    }

    /**
     * @param accuracy {@code [depth][length]} in [0, 1], NaN for an empty cell
     */
    public static void write(Path file, String title, List<Integer> lengths, List<Double> depths,
            double[][] accuracy) throws IOException {
        int cell = 70;
        int left = 90;
        int top = 50;
        int width = left + cell * lengths.size() + 20;
        int height = top + cell * depths.size() + 60;
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
        g.drawString(title, 10, 22);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        for (int d = 0; d < depths.size(); d++) {
            for (int l = 0; l < lengths.size(); l++) {
                double a = accuracy[d][l];
                int x = left + l * cell;
                int y = top + d * cell;
                g.setColor(Double.isNaN(a) ? Color.LIGHT_GRAY
                        : new Color((float) (1 - a) * 0.85f, (float) a * 0.75f, 0.15f));
                g.fillRect(x, y, cell - 2, cell - 2);
                g.setColor(Color.WHITE);
                g.drawString(Double.isNaN(a) ? "-" : String.format(Locale.ROOT, "%.0f%%", 100 * a), x + 18,
                        y + cell / 2 + 4);
            }
            g.setColor(Color.BLACK);
            g.drawString(String.format(Locale.ROOT, "depth %.2f", depths.get(d)), 8, top + d * cell + cell / 2 + 4);
        }
        for (int l = 0; l < lengths.size(); l++) {
            g.drawString(lengths.get(l) + "", left + l * cell + 20, top + depths.size() * cell + 18);
        }
        g.drawString("context length (tokens, approx.)", left, top + depths.size() * cell + 42);
        g.dispose();
        ImageIO.write(img, "png", file.toFile());
    }
}
