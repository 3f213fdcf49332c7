package loghub

import "testing"

func TestCorpus(t *testing.T) {
	dir := Require(t)
	systems, err := Systems(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(systems) != 16 {
		t.Fatalf("systems = %v, want the 16 of loghub-2k", systems)
	}
	for _, s := range systems {
		lines, err := Lines(dir, s)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := ReadStructured(dir, s)
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) != 2000 || len(rows) != 2000 {
			t.Errorf("%s: %d lines, %d ground-truth rows; want 2000 of each", s, len(lines), len(rows))
		}
		if rows[0].Template == "" || rows[0].Content == "" {
			t.Errorf("%s: first row has no content or template: %+v", s, rows[0])
		}
	}
	all, err := AllLines(dir)
	if err != nil {
		t.Fatal(err)
	}
	first, err := Lines(dir, systems[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 16*2000 || all[0] != first[0] || all[2000] == first[0] {
		t.Errorf("AllLines: %d lines, want every system's 2000 in Systems' order", len(all))
	}
}
