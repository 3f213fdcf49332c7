package fleetagentextension

import (
	"testing"
)

// FuzzWitnessFile reads arbitrary bytes as the agent's checkpoints file and
// as a checkpoint from the gateway: never a panic, never more than five kept.
func FuzzWitnessFile(f *testing.F) {
	f.Add(testNote("a", 1))
	f.Add(append(testNote("a", 1), testNote("b", 2)...))
	f.Add([]byte("fleetlog.archive/x\n18446744073709551616\n\n\u2014 "))
	f.Add([]byte("\n\n\u2014 \n\n"))
	f.Fuzz(func(t *testing.T, input []byte) {
		for data := input; len(data) > 0; {
			var note []byte
			note, data = splitNote(data)
			if _, err := parseHeld(note); err != nil {
				break
			}
		}
		s, _ := openWitnessStore("")
		for range 7 {
			_, _ = s.add(input)
		}
		if len(s.notes()) > 5 {
			t.Fatalf("kept %d checkpoints", len(s.notes()))
		}
	})
}
