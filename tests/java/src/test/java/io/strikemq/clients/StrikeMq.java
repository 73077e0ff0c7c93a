package io.strikemq.clients;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Runs the strikemq binary on a free port with a temporary data directory. */
final class StrikeMq implements AutoCloseable {
    private static final Pattern READY = Pattern.compile("accepting Kafka connections on [^:]+:(\\d+)");

    private final Process process;
    private final int port;

    StrikeMq() throws IOException {
        String bin = System.getenv("STRIKEMQ_BIN");
        if (bin == null || bin.isEmpty()) {
            bin = new File("../../target/debug/strikemq").getAbsolutePath();
        }
        Path dataDir = Files.createTempDirectory("strikemq-java-");
        ProcessBuilder pb = new ProcessBuilder(List.of(
                bin, "--bind", "127.0.0.1", "--port", "0", "--http-port", "0", "--io-threads", "2",
                "--data-dir", dataDir.resolve("data").toString()));
        pb.redirectError(dataDir.resolve("broker.log").toFile());
        process = pb.start();
        BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        int found = -1;
        String line;
        while ((line = out.readLine()) != null) {
            Matcher m = READY.matcher(line);
            if (m.find()) {
                found = Integer.parseInt(m.group(1));
                break;
            }
        }
        if (found < 0) {
            process.destroyForcibly();
            throw new IOException("strikemq did not report ready");
        }
        port = found;
    }

    String bootstrap() {
        return "127.0.0.1:" + port;
    }

    @Override
    public void close() throws Exception {
        process.destroy(); // SIGTERM: clean shutdown
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("broker did not stop within 10 s");
        }
    }
}
