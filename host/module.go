package host

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/alignhost/alignhost/host/internal/meter"
	"github.com/alignhost/alignhost/pluginapi"
)

// ModuleInfo is what can be known about a module without running it.
type ModuleInfo struct {
	// Size is the module's length in bytes.
	Size int `json:"size"`
	// SHA256 is the hex SHA-256 of the module.
	SHA256 string `json:"sha256"`
	// Imports and Exports are the module's functions, sorted.
	Imports []Function `json:"imports"`
	Exports []Function `json:"exports"`
	// MemoryMinPages is the memory the module needs at start; MemoryMaxPages
	// its declared maximum, 0 when it declares none.
	MemoryMinPages uint32 `json:"memory_min_pages"`
	MemoryMaxPages uint32 `json:"memory_max_pages,omitempty"`
	// ImportedABIs lists the plugin ABI versions whose import module
	// (alignhost_vN) the module imports from.
	ImportedABIs []int `json:"imported_abis,omitempty"`
	// Functions counts the functions the module defines; CodeBytes is the
	// size of their bodies, LargestFunction the largest body's, and
	// Nesting the deepest nesting of blocks in any of them: what the
	// compile limits (CompileLimits) are checked against.
	Functions       int `json:"functions"`
	CodeBytes       int `json:"code_bytes"`
	LargestFunction int `json:"largest_function"`
	Nesting         int `json:"nesting"`
}

// Function is one imported or exported function.
type Function struct {
	// Module is the import module; empty for an export.
	Module  string   `json:"module,omitempty"`
	Name    string   `json:"name"`
	Params  []string `json:"params"`
	Results []string `json:"results"`
}

// Signature formats the function's type: "(i32, i32) -> i64".
func (f Function) Signature() string {
	s := "(" + strings.Join(f.Params, ", ") + ")"
	switch len(f.Results) {
	case 0:
		return s + " -> ()"
	case 1:
		return s + " -> " + f.Results[0]
	}
	return s + " -> (" + strings.Join(f.Results, ", ") + ")"
}

func (f Function) String() string {
	if f.Module != "" {
		return f.Module + "." + f.Name + " " + f.Signature()
	}
	return f.Name + " " + f.Signature()
}

func typeNames(ts []api.ValueType) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = api.ValueTypeName(t)
	}
	return out
}

// moduleInfo describes a decoded module.
func moduleInfo(m *meter.Module, sum string) *ModuleInfo {
	info := &ModuleInfo{Size: m.Size, SHA256: sum, Functions: len(m.Functions)}
	function := func(module, name string, t meter.FuncType) Function {
		f := Function{Module: module, Name: name, Params: []string{}, Results: []string{}}
		for _, v := range t.Params {
			f.Params = append(f.Params, api.ValueTypeName(v))
		}
		for _, v := range t.Results {
			f.Results = append(f.Results, api.ValueTypeName(v))
		}
		return f
	}
	abis := map[int]bool{}
	var memories []meter.Memory
	for _, im := range m.Imports {
		switch im.Kind {
		case meter.KindFunction:
			var t meter.FuncType
			if int(im.Type) < len(m.Types) {
				t = m.Types[im.Type]
			}
			info.Imports = append(info.Imports, function(im.Module, im.Name, t))
			if n, ok := abiOf(im.Module); ok {
				abis[n] = true
			}
		case meter.KindMemory:
			memories = append(memories, im.Memory)
		}
	}
	memories = append(memories, m.Memories...)
	for _, e := range m.Exports {
		switch e.Kind {
		case meter.KindFunction:
			t, _ := m.FunctionType(e.Index)
			info.Exports = append(info.Exports, function("", e.Name, t))
		case meter.KindMemory:
			if e.Name == pluginapi.ExportMemory && int(e.Index) < len(memories) {
				mem := memories[e.Index]
				info.MemoryMinPages = uint32(min(mem.Min, 1<<32-1))
				if mem.HasMax {
					info.MemoryMaxPages = uint32(min(mem.Max, 1<<32-1))
				}
			}
		}
	}
	for _, b := range m.Bodies {
		info.CodeBytes += b.Size
		info.LargestFunction = max(info.LargestFunction, b.Size)
		info.Nesting = max(info.Nesting, b.Nesting)
	}
	sort.Slice(info.Imports, func(i, j int) bool {
		a, b := info.Imports[i], info.Imports[j]
		return a.Module < b.Module || a.Module == b.Module && a.Name < b.Name
	})
	sort.Slice(info.Exports, func(i, j int) bool { return info.Exports[i].Name < info.Exports[j].Name })
	for n := range abis {
		info.ImportedABIs = append(info.ImportedABIs, n)
	}
	slices.Sort(info.ImportedABIs)
	return info
}

// abiOf returns N for an import module named alignhost_vN.
func abiOf(module string) (int, bool) {
	rest, ok := strings.CutPrefix(module, pluginapi.ModulePrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n >= 0
}

// signature is the type of an ABI function.
type signature struct {
	params, results []api.ValueType
}

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// exportSignatures and importSignatures are the ABI's functions.
var (
	exportSignatures = map[string]signature{
		pluginapi.ExportABIVersion: {nil, []api.ValueType{i32}},
		pluginapi.ExportAlloc:      {[]api.ValueType{i32}, []api.ValueType{i32}},
		pluginapi.ExportFree:       {[]api.ValueType{i32}, nil},
		pluginapi.ExportDescribe:   {nil, []api.ValueType{i64}},
		pluginapi.ExportAlign:      {[]api.ValueType{i32, i32}, []api.ValueType{i64}},
	}
	importSignatures = map[string]signature{
		pluginapi.ImportChat:     {[]api.ValueType{i32, i32}, []api.ValueType{i64}},
		pluginapi.ImportEmbed:    {[]api.ValueType{i32, i32}, []api.ValueType{i64}},
		pluginapi.ImportEvaluate: {[]api.ValueType{i32, i32}, []api.ValueType{i64}},
		pluginapi.ImportTake:     {[]api.ValueType{i32, i32, i32}, []api.ValueType{i32}},
		pluginapi.ImportLog:      {[]api.ValueType{i32, i32, i32}, nil},
		pluginapi.ImportProgress: {[]api.ValueType{i32, i32, i32, i32}, nil},
	}
)

func (s signature) matches(params, results []api.ValueType) bool {
	return slices.Equal(s.params, params) && slices.Equal(s.results, results)
}

func (s signature) String() string {
	return Function{Params: typeNames(s.params), Results: typeNames(s.results)}.Signature()
}

// checkModule checks a compiled module against the ABI before it is
// instantiated: the ABI version of its imports first, so that a module from
// another version gets that message rather than a list of mismatches; then
// its imports and exports.
func checkModule(cm wazero.CompiledModule, info *ModuleInfo, limits Limits) error {
	for _, n := range info.ImportedABIs {
		if n != pluginapi.ABIVersion {
			return abiVersionError(n, fmt.Sprintf("it imports %s%d", pluginapi.ModulePrefix, n))
		}
	}
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch mod {
		case wasi_snapshot_preview1.ModuleName:
		case pluginapi.ModuleName:
			sig, ok := importSignatures[name]
			if !ok {
				return fmt.Errorf("imports %s.%s, which this alignhost does not provide (the plugin may need a newer alignhost)", mod, name)
			}
			if !sig.matches(f.ParamTypes(), f.ResultTypes()) {
				return fmt.Errorf("imports %s.%s with type %s; the ABI says %s", mod, name,
					Function{Params: typeNames(f.ParamTypes()), Results: typeNames(f.ResultTypes())}.Signature(), sig)
			}
		default:
			return fmt.Errorf("imports function %s from module %q; a plugin may import only %s and %s",
				name, mod, pluginapi.ModuleName, wasi_snapshot_preview1.ModuleName)
		}
	}
	if n := len(cm.ImportedMemories()); n > 0 {
		return fmt.Errorf("imports a memory; a plugin must define and export its own")
	}
	exports := cm.ExportedFunctions()
	if _, ok := cm.ExportedMemories()[pluginapi.ExportMemory]; !ok {
		return fmt.Errorf("exports no memory named %q", pluginapi.ExportMemory)
	}
	_, hasStart := exports[pluginapi.ExportStart]
	init, hasInit := exports[pluginapi.ExportInitialize]
	if hasStart && !hasInit {
		return fmt.Errorf("is a command module (it exports _start, not _initialize); build a reactor, for Go with -buildmode=c-shared")
	}
	if hasInit && (len(init.ParamTypes()) != 0 || len(init.ResultTypes()) != 0) {
		return fmt.Errorf("exports _initialize with type %s; want () -> ()", Function{Params: typeNames(init.ParamTypes()), Results: typeNames(init.ResultTypes())}.Signature())
	}
	var missing []string
	for _, name := range []string{pluginapi.ExportABIVersion, pluginapi.ExportAlloc, pluginapi.ExportFree, pluginapi.ExportDescribe, pluginapi.ExportAlign} {
		f, ok := exports[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		if sig := exportSignatures[name]; !sig.matches(f.ParamTypes(), f.ResultTypes()) {
			return fmt.Errorf("exports %s with type %s; the ABI says %s", name,
				Function{Params: typeNames(f.ParamTypes()), Results: typeNames(f.ResultTypes())}.Signature(), sig)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("does not export %s: it is not an alignhost plugin, or was built without pluginapi", strings.Join(missing, ", "))
	}
	if info.MemoryMinPages > limits.MemoryPages {
		return fmt.Errorf("needs %d pages (%s) of memory to start, more than its limit of %d pages (%s)",
			info.MemoryMinPages, mib(uint64(info.MemoryMinPages)*pageSize), limits.MemoryPages, mib(uint64(limits.MemoryPages)*pageSize))
	}
	return nil
}

// abiVersionError explains a module built for another ABI version.
func abiVersionError(n int, how string) error {
	advice := "upgrade alignhost, or use a build of the plugin for ABI v" + strconv.Itoa(pluginapi.ABIVersion)
	if n < pluginapi.ABIVersion {
		advice = "rebuild the plugin with the current pluginapi"
	}
	return fmt.Errorf("%w: built for plugin ABI v%d (%s); this alignhost supports ABI v%d: %s",
		ErrABIVersion, n, how, pluginapi.ABIVersion, advice)
}

// mib formats a byte count in MiB.
func mib(n uint64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
