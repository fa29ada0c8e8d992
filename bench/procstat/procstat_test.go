package procstat

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// A real /proc/PID/stat line of nginx's worker, and one whose comm has
// spaces and parentheses.
const (
	nginxStat = "4242 (nginx) S 4241 4241 4241 0 -1 4194624 1200 0 0 0 250 130 0 0 20 0 1 0 777 1000000 900 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	oddStat   = "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 5 7 0 0 20 0 1 0 1 0 0\n"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Stat
	}{
		{"nginx worker", nginxStat, Stat{PID: 4242, PPID: 4241, UTime: 2500 * time.Millisecond, STime: 1300 * time.Millisecond}},
		{"comm with spaces and parens", oddStat, Stat{PID: 7, PPID: 1, UTime: 50 * time.Millisecond, STime: 70 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseStat = %+v, want %+v", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "12 nginx S 1", "12 (x) S 1 2 3", "x (y) S 1 2 3 4 5 6 7 8 9 10 11 12 13"} {
		if _, err := ParseStat([]byte(bad)); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseStat(%q) error = %v, want ErrFormat", bad, err)
		}
	}
}

func TestParseStatSelf(t *testing.T) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	st, err := ParseStat(b)
	if err != nil {
		t.Fatal(err)
	}
	if st.PID <= 0 || st.PPID < 0 {
		t.Errorf("ParseStat(/proc/self/stat) = %+v", st)
	}
}

func TestParsePeakRSS(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"present", "Name:\tnginx\nVmPeak:\t  20000 kB\nVmHWM:\t    5120 kB\nVmRSS:\t 4000 kB\n", 5120 * 1024, false},
		{"absent (zombie)", "Name:\tx\nState:\tZ (zombie)\n", 0, false},
		{"bad unit", "VmHWM:\t 5 MB\n", 0, true},
		{"bad number", "VmHWM:\t x kB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePeakRSS([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParsePeakRSS = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseResident(t *testing.T) {
	in := "Name:\tedged\nVmHWM:\t  254696 kB\nVmRSS:\t  254092 kB\nRssAnon:\t   80556 kB\nRssFile:\t  173536 kB\nRssShmem:\t       0 kB\n"
	anon, file, err := ParseResident([]byte(in))
	if err != nil || anon != 80556*1024 || file != 173536*1024 {
		t.Errorf("ParseResident = %d, %d, %v; want %d, %d", anon, file, err, 80556*1024, 173536*1024)
	}
	if _, _, err := ParseResident([]byte("RssAnon:\t 5 MB\n")); err == nil {
		t.Error("ParseResident of a line in MB: no error")
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	if anon, _, err := ParseResident(b); err != nil || anon <= 0 {
		t.Errorf("ParseResident(/proc/self/status) = anon %d, %v", anon, err)
	}
}

// writeProc writes a fake /proc entry for pid with parent ppid.
func writeProc(t testing.TB, root string, pid, ppid int, utime, stime, hwmKB int) {
	t.Helper()
	dir := filepath.Join(root, strconv.Itoa(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stat := strconv.Itoa(pid) + " (p) S " + strconv.Itoa(ppid) + " 0 0 0 -1 0 0 0 0 0 " +
		strconv.Itoa(utime) + " " + strconv.Itoa(stime) + " 0 0 20 0 1 0\n"
	status := "Name:\tp\nVmHWM:\t" + strconv.Itoa(hwmKB) + " kB\n"
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "status"), []byte(status), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSampleTree(t *testing.T) {
	root := t.TempDir()
	writeProc(t, root, 10, 1, 100, 50, 1000) // master
	writeProc(t, root, 11, 10, 200, 100, 2000)
	writeProc(t, root, 12, 10, 300, 100, 3000)
	writeProc(t, root, 13, 11, 1, 1, 10) // grandchild
	writeProc(t, root, 20, 1, 999, 999, 99999)
	if err := os.WriteFile(filepath.Join(root, "self"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := Reader{Root: root}
	got, err := r.Sample(10)
	if err != nil {
		t.Fatal(err)
	}
	want := Usage{CPU: 8520 * time.Millisecond, PeakRSS: 6010 * 1024, Procs: 4}
	if got != want {
		t.Errorf("Sample(10) = %+v, want %+v", got, want)
	}
	if _, err := r.Sample(99); err == nil {
		t.Error("Sample of a missing pid: no error")
	}
}

func TestSampleSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	u, err := Reader{}.Sample(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.PeakRSS <= 0 || u.Procs < 1 {
		t.Errorf("Sample(self) = %+v", u)
	}
}
