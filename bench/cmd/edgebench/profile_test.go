package main

import "testing"

func TestPprofTopDropsRunSpecificLines(t *testing.T) {
	in := "File: edged\nBuild ID: abc\nType: cpu\nTime: 2026-11-23 14:00:00 UTC\nDuration: 3s, Total samples = 5.1s (170%)\n      flat  flat%   sum%        cum   cum%\n     2.1s 41.18% 41.18%      2.1s 41.18%  internal/runtime/syscall/linux.Syscall6\n"
	want := "Type: cpu\nDuration: 3s, Total samples = 5.1s (170%)\n      flat  flat%   sum%        cum   cum%\n     2.1s 41.18% 41.18%      2.1s 41.18%  internal/runtime/syscall/linux.Syscall6"
	if got := pprofTop(in); got != want {
		t.Errorf("pprofTop =\n%q\nwant\n%q", got, want)
	}
}

func TestFileSlug(t *testing.T) {
	if got, want := fileSlug("edged mem miss 1 KiB (unique URLs), 1 conns"), "edged-mem-miss-1-kib-unique-urls-1-conns"; got != want {
		t.Errorf("fileSlug = %q, want %q", got, want)
	}
}
