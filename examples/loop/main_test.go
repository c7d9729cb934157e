package main

import (
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(&out); err != nil {
		t.Fatal(err)
	}
	want := "Processing step 0\nProcessing step 1\nProcessing step 2\nProcessing step 3\nProcessing step 4\n" +
		`{"step":5,"done":true}` + "\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
