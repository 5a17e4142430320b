package main

import (
	"testing"

	"github.com/alignhost/alignhost/pluginapi"
	"github.com/alignhost/alignhost/plugins/memalign"
)

// The module exports MemAlign: package initialisation registered it.
func TestRegistersMemAlign(t *testing.T) {
	o := pluginapi.Registered()
	if _, ok := o.(memalign.Optimizer); !ok {
		t.Fatalf("registered optimizer is %T, want memalign.Optimizer", o)
	}
	if d := o.Describe(); d.Name != memalign.Name || d.Version != memalign.Version {
		t.Errorf("describe says %s %s", d.Name, d.Version)
	}
}
