package framework

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// dumpLines is how many trailing lines of each log a failed test prints;
// the control plane's own logs get fewer, so that the lines of the
// processes under test, and the failure above them, stay in view. Every
// log stays whole in the kept folder.
const (
	dumpLines             = 150
	dumpLinesControlPlane = 25
)

// LogFile collects one process's output in a file.
type LogFile struct {
	Path string

	mu sync.Mutex
	f  *os.File
}

// Write appends to the log; it never fails the writer, so a process is
// never blocked by its log.
func (l *LogFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		_, _ = l.f.Write(p)
	}
	return len(p), nil
}

func (l *LogFile) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
}

// logSet is the logs of the processes of one cluster or one test.
type logSet struct {
	dir string

	mu    sync.Mutex
	files map[string]*LogFile
	order []string
}

func newLogSet(dir string) *logSet {
	return &logSet{dir: dir, files: map[string]*LogFile{}}
}

func (s *logSet) writer(name string) *LogFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.files[name]; ok {
		return l
	}
	path := filepath.Join(s.dir, name+".log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		f = nil
	}
	l := &LogFile{Path: path, f: f}
	s.files[name] = l
	s.order = append(s.order, name)
	return l
}

func (s *logSet) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.files {
		l.close()
	}
}

// dump prints the tail of every log, so a failure can be diagnosed from the
// test output alone.
func (s *logSet) dump(t TB, owner string) {
	s.mu.Lock()
	names := append([]string(nil), s.order...)
	s.mu.Unlock()
	for _, name := range names {
		path := filepath.Join(s.dir, name+".log")
		n := dumpLines
		if slices.Contains(assetBinaries, name) {
			n = dumpLinesControlPlane
		}
		lines, total := tail(path, n)
		t.Logf("===== %s/%s: last %d of %d lines (%s) =====\n%s", owner, name, len(lines), total, path, strings.Join(lines, "\n"))
	}
}

func tail(path string, n int) ([]string, int) {
	f, err := os.Open(path)
	if err != nil {
		return []string{fmt.Sprintf("(cannot read log: %v)", err)}, 0
	}
	defer f.Close()
	var lines []string
	total := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		total++
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines, total
}
