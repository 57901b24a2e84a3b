package framework

import "testing"

func TestProcessCostsComeFromProc(t *testing.T) {
	p := &Process{Name: "sleep", Path: "/bin/sleep", Args: []string{"30"}}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	if rss, err := p.MemoryMiB("VmRSS"); err != nil || rss <= 0 {
		t.Errorf("VmRSS %g MiB, %v", rss, err)
	}
	if cpu, err := p.CPUSeconds(); err != nil || cpu < 0 {
		t.Errorf("CPU %g s, %v", cpu, err)
	}
	if _, err := p.MemoryMiB("NoSuchField"); err == nil {
		t.Error("an unknown field was read")
	}
	busy, total, err := MachineCPUSeconds()
	if err != nil || busy <= 0 || total < busy {
		t.Errorf("machine CPU: busy %g s of %g s, %v", busy, total, err)
	}
}
