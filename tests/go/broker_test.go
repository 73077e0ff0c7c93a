package clients

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

var ready = regexp.MustCompile(`accepting Kafka connections on [^:]+:(\d+)`)

// broker is a strikemq process on a free port with a temporary data directory.
type broker struct {
	cmd       *exec.Cmd
	bootstrap string
}

func startBroker(t *testing.T) *broker {
	t.Helper()
	bin := os.Getenv("STRIKEMQ_BIN")
	if bin == "" {
		bin = filepath.Join("..", "..", "target", "debug", "strikemq")
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", "0", "--http-port", "0", "--io-threads", "2",
		"--data-dir", filepath.Join(dir, "data"))
	logFile, err := os.Create(filepath.Join(dir, "broker.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logFile
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	b := &broker{cmd: cmd}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := ready.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case port := <-found:
		b.bootstrap = fmt.Sprintf("127.0.0.1:%s", port)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("broker did not report ready")
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("broker exit: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("broker did not stop within 10 s")
		}
	})
	return b
}
