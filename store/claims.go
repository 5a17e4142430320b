package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// A claim keeps two evaluation runs of the same judge version from paying
// for the same trace at once. Before it asks the model about a trace, a run
// claims the trace for (judge name, version, trace ID) under a lease;
// while the lease is live, every other run skips the trace. The run renews
// the leases of its work in flight with its heartbeat ([Store.Heartbeat])
// and releases a claim once the trace's feedback is stored
// ([Store.ReleaseClaims]). A process that dies holding claims (kill -9, a
// power cut) stops renewing them; once they expire, another run takes
// them. What a killed run loses is therefore its work in flight, and for
// no longer than its lease.
//
// The table is eval_claims.

// ClaimOwner identifies the holder of a claim: a run, and the process
// running it.
type ClaimOwner struct {
	// RunID is the eval_runs ID of the run.
	RunID int64
	// Token is a random token of the process ([NewOwnerToken]), so that
	// two processes never take each other's claims for their own.
	Token string
}

// NewOwnerToken returns a random token for [ClaimOwner].Token and
// [EvalRun].Owner.
func NewOwnerToken() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ClaimRequest asks [Store.ClaimTraces] for traces.
type ClaimRequest struct {
	// Judge and Version name the judge version that will judge.
	Judge   string
	Version int
	// Owner is the claiming run.
	Owner ClaimOwner
	// Now is the claimer's clock, and Lease how long from Now the claims
	// last unless renewed.
	Now   time.Time
	Lease time.Duration
	// Items are the traces to claim.
	Items []ClaimItem
}

// ClaimItem is one trace to claim.
type ClaimItem struct {
	TraceID string
	// DoneID, when set, is the assessment ID of the judgement the claim is
	// for: if the trace holds it, stored with a value, the trace is done
	// and not claimed. A run that judges again (--force) leaves it empty.
	DoneID string
}

// ClaimState is the outcome of claiming one trace.
type ClaimState int

// The outcomes of a claim.
const (
	// Claimed: the trace is the caller's to judge until the lease ends.
	Claimed ClaimState = iota
	// ClaimDone: the trace already holds the judgement (ClaimItem.DoneID);
	// it was stored by another run since the caller read the trace.
	ClaimDone
	// ClaimHeld: another run holds a live claim on the trace.
	ClaimHeld
)

// ClaimResult is the outcome of claiming one trace.
type ClaimResult struct {
	TraceID string
	State   ClaimState
	// Holder and Expires describe the other run's claim when State is
	// ClaimHeld.
	Holder  ClaimOwner
	Expires time.Time
}

// ClaimTraces claims the traces of req in one transaction and returns the
// outcome for each, in order. A trace is claimed when nobody holds a live
// claim on it (no claim, an expired one, or one of req.Owner's) and it is
// not done; the claim then lasts until req.Now + req.Lease.
func (s *Store) ClaimTraces(ctx context.Context, req ClaimRequest) ([]ClaimResult, error) {
	if req.Judge == "" || req.Version < 1 || req.Owner.Token == "" || req.Lease <= 0 {
		return nil, fmt.Errorf("claim traces: judge %q version %d, owner %q, lease %v: want a judge version, an owner and a positive lease",
			req.Judge, req.Version, req.Owner.Token, req.Lease)
	}
	now := req.Now.UnixMilli()
	expires := req.Now.Add(req.Lease).UnixMilli()
	out := make([]ClaimResult, len(req.Items))
	err := s.write(ctx, func(tx *sql.Tx) error {
		var get, done, put *sql.Stmt
		specs := []stmtSpec{
			{&get, `SELECT run_id, owner, expires_at FROM eval_claims
				WHERE judge_name = ? AND judge_version = ? AND trace_id = ?`},
			{&done, `SELECT count(*) FROM assessments WHERE assessment_id = ? AND trace_id = ?
				AND json_extract(json, '$.feedback') IS NOT NULL AND json_extract(json, '$.feedback.error') IS NULL`},
			{&put, `INSERT INTO eval_claims (judge_name, judge_version, trace_id, run_id, owner, expires_at)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (judge_name, judge_version, trace_id) DO UPDATE SET
				run_id = excluded.run_id, owner = excluded.owner, expires_at = excluded.expires_at`},
		}
		if err := prepareAll(ctx, tx, specs); err != nil {
			return err
		}
		defer closeAll(specs)
		for i, it := range req.Items {
			out[i].TraceID = it.TraceID
			var (
				holder ClaimOwner
				until  int64
			)
			err := get.QueryRowContext(ctx, req.Judge, req.Version, it.TraceID).Scan(&holder.RunID, &holder.Token, &until)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return err
			case until > now && holder.Token != req.Owner.Token:
				out[i].State, out[i].Holder, out[i].Expires = ClaimHeld, holder, fromMillis(until)
				continue
			}
			if it.DoneID != "" {
				var n int
				if err := done.QueryRowContext(ctx, it.DoneID, it.TraceID).Scan(&n); err != nil {
					return err
				}
				if n > 0 {
					out[i].State = ClaimDone
					continue
				}
			}
			if _, err := put.ExecContext(ctx, req.Judge, req.Version, it.TraceID, req.Owner.RunID, req.Owner.Token, expires); err != nil {
				return err
			}
			out[i].State = Claimed
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim %d traces for %s: %w", len(req.Items), judgeRef(req.Judge, req.Version), err)
	}
	return out, nil
}

// ReleaseClaims gives up owner's claims on the traces traceIDs of a judge
// version, once their feedback is stored or they will not be judged.
// Claims of other owners are left alone.
func (s *Store) ReleaseClaims(ctx context.Context, judge string, version int, owner ClaimOwner, traceIDs []string) error {
	if len(traceIDs) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `DELETE FROM eval_claims
			WHERE judge_name = ? AND judge_version = ? AND trace_id = ? AND owner = ?`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, id := range traceIDs {
			if _, err := st.ExecContext(ctx, judge, version, id, owner.Token); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("release %d claims of %s: %w", len(traceIDs), judgeRef(judge, version), err)
	}
	return nil
}

// ReleaseOwner gives up every claim of owner: a run that ends releases
// what it claimed and did not judge.
func (s *Store) ReleaseOwner(ctx context.Context, owner ClaimOwner) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM eval_claims WHERE owner = ?`, owner.Token)
		return err
	})
	if err != nil {
		return fmt.Errorf("release the claims of run %d: %w", owner.RunID, err)
	}
	return nil
}

// Heartbeat says that the run of owner is alive at now: it stamps the
// run's heartbeat and extends every claim of owner to now + lease, in one
// transaction.
func (s *Store) Heartbeat(ctx context.Context, owner ClaimOwner, now time.Time, lease time.Duration) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE eval_runs SET heartbeat_at = ?, lease_ms = ? WHERE id = ?`,
			now.UnixMilli(), lease.Milliseconds(), owner.RunID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE eval_claims SET expires_at = ? WHERE owner = ?`,
			now.Add(lease).UnixMilli(), owner.Token)
		return err
	})
	if err != nil {
		return fmt.Errorf("heartbeat of run %d: %w", owner.RunID, err)
	}
	return nil
}

// LiveClaims counts the live claims at now on traces of a judge version
// held by owners other than except (which may be zero): the traces other
// runs are judging.
func (s *Store) LiveClaims(ctx context.Context, judge string, version int, except ClaimOwner, now time.Time) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM eval_claims
		WHERE judge_name = ? AND judge_version = ? AND expires_at > ? AND owner != ?`,
		judge, version, now.UnixMilli(), except.Token).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("claims of %s: %w", judgeRef(judge, version), err)
	}
	return n, nil
}
