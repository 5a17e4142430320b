package memalign

import (
	"errors"
	"fmt"

	"github.com/alignhost/alignhost/pluginapi"
)

// The configuration keys MemAlign accepts (see [Optimizer.Describe]).
const (
	KeyRetrievalK            = "retrieval_k"
	KeyEmbeddingModel        = "embedding_model"
	KeyEmbeddingDim          = "embedding_dim"
	KeyReflectionModel       = "reflection_model"
	KeyBatchSize             = "batch_size"
	KeyMaxInputTokens        = "max_input_tokens"
	KeyParallelism           = "parallelism"
	KeyDisableSemanticMemory = "disable_semantic_memory"
	KeyDisableEpisodicMemory = "disable_episodic_memory"
	KeyMaxGuidelines         = "max_guidelines"
	KeyDedupSimilarity       = "dedup_similarity"
	KeyTemperature           = "temperature"
)

// FlexTokens is kept free in every distillation prompt for the answer and
// for the error of counting tokens as bytes/4: the prompt budget is
// MaxInputTokens minus FlexTokens, as in MLflow.
const FlexTokens = 5000

// Config is MemAlign's configuration.
type Config struct {
	// RetrievalK is how many stored examples the aligned judge is shown
	// with each judgement.
	RetrievalK int
	// EmbeddingModel is the embed model (a role) that embeds example
	// queries and guidelines.
	EmbeddingModel string
	// EmbeddingDim is the vector length asked of the embedding model and
	// used by the local embedder.
	EmbeddingDim int
	// ReflectionModel is the chat model (a role) that distils guidelines.
	ReflectionModel string
	// BatchSize is the most examples in one distillation prompt.
	BatchSize int
	// MaxInputTokens is the reflection model's input limit; a prompt is
	// kept within MaxInputTokens − FlexTokens.
	MaxInputTokens int
	// Parallelism is the most distillation prompts in one chat call.
	Parallelism int
	// DisableSemanticMemory skips guideline distillation.
	DisableSemanticMemory bool
	// DisableEpisodicMemory turns retrieval of examples off (k = 0); the
	// examples are still kept, without vectors.
	DisableEpisodicMemory bool
	// MaxGuidelines caps the number of guidelines; 0 means no cap.
	MaxGuidelines int
	// DedupSimilarity is the cosine similarity at or above which a new
	// guideline is merged into a similar one; 0 turns embedding
	// comparison off (exact and normalised text are still merged).
	DedupSimilarity float64
	// Temperature is the reflection model's sampling temperature.
	Temperature float64
}

// DefaultConfig returns the configuration used when the user sets nothing:
// MLflow's defaults where MLflow has one.
func DefaultConfig() Config {
	return Config{
		RetrievalK:      5,
		EmbeddingModel:  pluginapi.RoleEmbedding,
		EmbeddingDim:    512,
		ReflectionModel: pluginapi.RoleReflection,
		BatchSize:       50,
		MaxInputTokens:  128000,
		Parallelism:     8,
		DedupSimilarity: 0.92,
	}
}

// configKeys describes every key, with its default.
func configKeys() []pluginapi.ConfigKey {
	d := DefaultConfig()
	return []pluginapi.ConfigKey{
		{Key: KeyRetrievalK, Type: pluginapi.ConfigInteger, Default: d.RetrievalK,
			Description: "How many stored examples, the most similar to the input, the aligned judge is shown with each judgement."},
		{Key: KeyEmbeddingModel, Type: pluginapi.ConfigString, Default: d.EmbeddingModel,
			Description: "The embed model that embeds example queries and guidelines. When it is unavailable, the built-in local embedder is used."},
		{Key: KeyEmbeddingDim, Type: pluginapi.ConfigInteger, Default: d.EmbeddingDim,
			Description: "The length of the vectors, asked of the embedding model and used by the local embedder (at least 8)."},
		{Key: KeyReflectionModel, Type: pluginapi.ConfigString, Default: d.ReflectionModel,
			Description: "The chat model that distils guidelines from the examples."},
		{Key: KeyBatchSize, Type: pluginapi.ConfigInteger, Default: d.BatchSize,
			Description: "The most examples in one distillation prompt."},
		{Key: KeyMaxInputTokens, Type: pluginapi.ConfigInteger, Default: d.MaxInputTokens,
			Description: "The reflection model's input limit in tokens; each distillation prompt stays 5000 tokens below it."},
		{Key: KeyParallelism, Type: pluginapi.ConfigInteger, Default: d.Parallelism,
			Description: "The most distillation prompts sent at once, in one chat call."},
		{Key: KeyDisableSemanticMemory, Type: pluginapi.ConfigBoolean, Default: false,
			Description: "Do not distil guidelines."},
		{Key: KeyDisableEpisodicMemory, Type: pluginapi.ConfigBoolean, Default: false,
			Description: "Do not retrieve stored examples at judgement time (examples are kept for bookkeeping, without vectors)."},
		{Key: KeyMaxGuidelines, Type: pluginapi.ConfigInteger, Default: d.MaxGuidelines,
			Description: "The most guidelines the judge keeps (0: no limit); those learnt from the most examples are kept, and guidelines written by people always are."},
		{Key: KeyDedupSimilarity, Type: pluginapi.ConfigNumber, Default: d.DedupSimilarity,
			Description: "The cosine similarity of embeddings at or above which a new guideline is merged into a similar one (0: compare text only)."},
		{Key: KeyTemperature, Type: pluginapi.ConfigNumber, Default: d.Temperature,
			Description: "The reflection model's sampling temperature."},
	}
}

// ParseConfig reads the configuration of a request: each key the user set,
// and the default for the others. It fails on a value out of range and
// when both memories are disabled.
func ParseConfig(values map[string]any) (Config, error) {
	req := pluginapi.AlignRequest{Config: values}
	d := DefaultConfig()
	c := Config{
		RetrievalK:            req.ConfigInt(KeyRetrievalK, d.RetrievalK),
		EmbeddingModel:        req.ConfigString(KeyEmbeddingModel, d.EmbeddingModel),
		EmbeddingDim:          req.ConfigInt(KeyEmbeddingDim, d.EmbeddingDim),
		ReflectionModel:       req.ConfigString(KeyReflectionModel, d.ReflectionModel),
		BatchSize:             req.ConfigInt(KeyBatchSize, d.BatchSize),
		MaxInputTokens:        req.ConfigInt(KeyMaxInputTokens, d.MaxInputTokens),
		Parallelism:           req.ConfigInt(KeyParallelism, d.Parallelism),
		DisableSemanticMemory: req.ConfigBool(KeyDisableSemanticMemory, d.DisableSemanticMemory),
		DisableEpisodicMemory: req.ConfigBool(KeyDisableEpisodicMemory, d.DisableEpisodicMemory),
		MaxGuidelines:         req.ConfigInt(KeyMaxGuidelines, d.MaxGuidelines),
		DedupSimilarity:       req.ConfigFloat(KeyDedupSimilarity, d.DedupSimilarity),
		Temperature:           req.ConfigFloat(KeyTemperature, d.Temperature),
	}
	return c, c.Validate()
}

// Validate reports whether every value is in range.
func (c Config) Validate() error {
	var errs []error
	bad := func(key string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config %s: "+format, append([]any{key}, args...)...))
	}
	if c.RetrievalK < 1 {
		bad(KeyRetrievalK, "%d: want at least 1", c.RetrievalK)
	}
	if c.EmbeddingModel == "" {
		bad(KeyEmbeddingModel, "is empty")
	}
	if c.EmbeddingDim < 8 {
		bad(KeyEmbeddingDim, "%d: want at least 8", c.EmbeddingDim)
	}
	if c.ReflectionModel == "" {
		bad(KeyReflectionModel, "is empty")
	}
	if c.BatchSize < 1 {
		bad(KeyBatchSize, "%d: want at least 1", c.BatchSize)
	}
	if c.MaxInputTokens <= FlexTokens {
		bad(KeyMaxInputTokens, "%d: want more than %d, the tokens kept free for the answer", c.MaxInputTokens, FlexTokens)
	}
	if c.Parallelism < 1 || c.Parallelism > pluginapi.MaxChatBatch {
		bad(KeyParallelism, "%d: want 1 to %d", c.Parallelism, pluginapi.MaxChatBatch)
	}
	if c.DisableSemanticMemory && c.DisableEpisodicMemory {
		errs = append(errs, fmt.Errorf("config %s and %s are both set: MemAlign needs at least one of its memories",
			KeyDisableSemanticMemory, KeyDisableEpisodicMemory))
	}
	if c.MaxGuidelines < 0 {
		bad(KeyMaxGuidelines, "%d: want 0 (no limit) or more", c.MaxGuidelines)
	}
	if !(c.DedupSimilarity >= 0 && c.DedupSimilarity <= 1) {
		bad(KeyDedupSimilarity, "%g: want 0 (text only) to 1", c.DedupSimilarity)
	}
	if !(c.Temperature >= 0 && c.Temperature <= 2) {
		bad(KeyTemperature, "%g: want 0 to 2", c.Temperature)
	}
	return errors.Join(errs...)
}
