package pluginapi

// ABIVersion is the version of the plugin ABI this package implements. It
// is returned by the module's alignhost_abi_version export and is part of
// the import module name ([ModuleName]). Additive changes keep it; see
// docs/abi.md.
const ABIVersion = 1

// ModuleName is the name of the import module holding the host's
// functions: "alignhost_v" followed by [ABIVersion].
const ModuleName = "alignhost_v1"

// ModulePrefix starts the import module name of every ABI version, so a
// host can recognise a module built for another version.
const ModulePrefix = "alignhost_v"

// The module's exports.
const (
	// ExportABIVersion is () -> i32: the ABI version.
	ExportABIVersion = "alignhost_abi_version"
	// ExportAlloc is (size i32) -> i32: allocate size bytes, 0 on failure.
	ExportAlloc = "alignhost_alloc"
	// ExportFree is (ptr i32) -> (): release a buffer.
	ExportFree = "alignhost_free"
	// ExportDescribe is () -> i64: a packed result holding a Description.
	ExportDescribe = "alignhost_describe"
	// ExportAlign is (ptr i32, len i32) -> i64: read an AlignRequest,
	// return a packed result holding an AlignResponse.
	ExportAlign = "alignhost_align"
	// ExportMemory is the module's linear memory.
	ExportMemory = "memory"
	// ExportInitialize is the optional reactor start function.
	ExportInitialize = "_initialize"
	// ExportStart marks a command module, which the host refuses.
	ExportStart = "_start"
)

// The host's functions in module [ModuleName].
const (
	// ImportChat is (ptr i32, len i32) -> i64: send a ChatBatchRequest;
	// returns handle<<32 | response length.
	ImportChat = "chat"
	// ImportEmbed is (ptr i32, len i32) -> i64: send an EmbedRequest.
	ImportEmbed = "embed"
	// ImportEvaluate is (ptr i32, len i32) -> i64: send an
	// EvaluateRequest.
	ImportEvaluate = "evaluate"
	// ImportTake is (handle i32, ptr i32, len i32) -> i32: copy a held
	// response into guest memory; see the Take* results.
	ImportTake = "take"
	// ImportLog is (level i32, ptr i32, len i32) -> (): write a log line.
	ImportLog = "log"
	// ImportProgress is (done i32, total i32, ptr i32, len i32) -> ():
	// report progress.
	ImportProgress = "progress"
)

// Results of the take import.
const (
	TakeOK          = 0 // the response was copied and released
	TakeUnknown     = 1 // no response is held under the handle
	TakeWrongLength = 2 // the buffer length is not the response's length
)

// Capability names a request–response capability an optimizer declares in
// [Description.Capabilities] before using it.
type Capability string

// The capabilities.
const (
	Chat     Capability = "chat"
	Embed    Capability = "embed"
	Evaluate Capability = "evaluate"
)

// Error codes in an [Error].
const (
	// CodeOptimizer: the optimizer returned an error.
	CodeOptimizer = "optimizer"
	// CodePanic: the optimizer panicked and the SDK recovered.
	CodePanic = "panic"
	// CodeInvalidRequest: a capability request is malformed.
	CodeInvalidRequest = "invalid_request"
	// CodeNotDeclared: the capability is not in the module's Description.
	CodeNotDeclared = "not_declared"
	// CodeUnavailable: the host has no such capability.
	CodeUnavailable = "unavailable"
	// CodeUnknownModel: the model name is not in the request's models, or
	// is of the wrong kind.
	CodeUnknownModel = "unknown_model"
	// CodeNotAllowed: an evaluate candidate changes the judge's name,
	// value type or model.
	CodeNotAllowed = "not_allowed"
	// CodeModelError: the model call failed as a whole.
	CodeModelError = "model_error"
)

// Limits of the ABI that are not configurable.
const (
	// MaxHeldResponses is how many request–response results an instance may
	// hold without taking them.
	MaxHeldResponses = 16
	// MaxChatBatch is the largest number of requests in one chat call.
	MaxChatBatch = 256
	// MaxEmbedInputs is the largest number of inputs in one embed call.
	MaxEmbedInputs = 2048
	// MaxEvaluateExamples is the largest number of examples in one
	// evaluate call.
	MaxEvaluateExamples = 1000
	// MaxLogBytes is the longest log message kept; longer ones are cut.
	MaxLogBytes = 16 << 10
)

// Level is the severity of a log message; the values are those of
// log/slog.
type Level int32

// The log levels.
const (
	LevelDebug Level = -4
	LevelInfo  Level = 0
	LevelWarn  Level = 4
	LevelError Level = 8
)

// Pack returns the packed form of a buffer: ptr<<32 | length.
func Pack(ptr, length uint32) uint64 { return uint64(ptr)<<32 | uint64(length) }

// Unpack splits a packed result into its address (or handle) and length.
func Unpack(packed uint64) (ptr, length uint32) { return uint32(packed >> 32), uint32(packed) }
