package llm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// Cache stores model answers by request key. The store implements it so
// that re-running or resuming an evaluation pays for nothing twice.
//
// Keys are hex SHA-256 digests of everything that determines an answer: the
// canonical model URI, the messages, the schema and its name, and the
// canonical inference parameters for a chat; the model URI, dimensions and
// text for each embedding input. They never cover credentials, base URLs or
// headers. Values are opaque JSON written by the client.
//
// Implementations must be safe for concurrent use. A Get or Put error is
// logged and the call goes on as if uncached.
type Cache interface {
	// Get returns the value stored under key, and false when there is none.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Put stores val under key, replacing any previous value.
	Put(ctx context.Context, key string, val []byte) error
}

// keyVersion changes when the key derivation does, so old entries miss
// rather than answer the wrong question.
const keyVersion = 1

// chatKeyed is the part of a chat request that determines its answer.
type chatKeyed struct {
	V          int            `json:"v"`
	Kind       string         `json:"kind"`
	Model      string         `json:"model"`
	Messages   []Message      `json:"messages"`
	Schema     map[string]any `json:"schema,omitempty"`
	SchemaName string         `json:"schema_name,omitempty"`
	Params     map[string]any `json:"params,omitempty"`
}

type embedKeyed struct {
	V          int    `json:"v"`
	Kind       string `json:"kind"`
	Model      string `json:"model"`
	Dimensions int    `json:"dimensions,omitempty"`
	Input      string `json:"input"`
}

// hashKey is the hex SHA-256 of v's JSON. encoding/json sorts map keys, so
// equal requests hash equally.
func hashKey(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// chatAnswer is a chat answer as cached and recorded.
type chatAnswer struct {
	Content          string `json:"content"`
	StructuredOutput bool   `json:"structured_output"`
	Usage            Usage  `json:"usage"`
}

// embedAnswer is one embedding as cached and recorded.
type embedAnswer struct {
	Vector []float32 `json:"vector"`
}

// cacheGet looks key up, logging (not failing on) cache errors.
func (c *Client) cacheGet(ctx context.Context, key string, into any) bool {
	if c.cache == nil {
		return false
	}
	b, ok, err := c.cache.Get(ctx, key)
	if err != nil {
		if ctx.Err() == nil { // a cancelled call (a run stopping) is not a cache problem
			c.log.WarnContext(ctx, "llm cache get failed", "key", key, "error", err)
		}
		return false
	}
	if !ok {
		return false
	}
	if err := json.Unmarshal(b, into); err != nil {
		c.log.WarnContext(ctx, "llm cache entry unreadable", "key", key, "error", err)
		return false
	}
	return true
}

func (c *Client) cachePut(ctx context.Context, key string, v any) {
	if c.cache == nil {
		return
	}
	b, err := json.Marshal(v)
	if err == nil {
		err = c.cache.Put(ctx, key, b)
	}
	if err != nil {
		c.log.WarnContext(ctx, "llm cache put failed", "key", key, "error", err)
	}
}
