package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/maidhq/maid/engine"
)

// kvChunk bounds the keys per IN (...) list: far below SQLite's and
// PostgreSQL's bind-variable limits.
const kvChunk = 500

func checkScope(op string, sc engine.Scope) error {
	if err := checkTexts("plugin_id", sc.PluginID, "server_id", sc.ServerID); err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	return nil
}

// KVGet returns the value of key in the scope.
func (s *Store) KVGet(ctx context.Context, sc engine.Scope, key string) (json.RawMessage, bool, error) {
	if err := checkScope("kv get", sc); err != nil {
		return nil, false, err
	}
	if err := checkText("key", key); err != nil {
		return nil, false, fmt.Errorf("store: kv get: %w", err)
	}
	var v []byte
	err := s.rdb.GetContext(ctx, &v, s.q("SELECT value FROM kv WHERE plugin_id = ? AND server_id = ? AND key = ?"), sc.PluginID, sc.ServerID, key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: kv get: %w", s.dbErr(err))
	}
	return json.RawMessage(v), true, nil
}

// KVGetMany returns the found keys only, with no bound on their size (for
// tools and tests; plugins' calls go through KVGetManyMax).
func (s *Store) KVGetMany(ctx context.Context, sc engine.Scope, keys []string) (map[string]json.RawMessage, error) {
	return s.KVGetManyMax(ctx, sc, keys, 0)
}

// KVGetManyMax returns the found keys only. Once the found keys and values
// pass maxBytes (sum of len(key)+len(value); <= 0: no bound) it stops
// reading and fails with engine.ErrLimit, so a result is never held past
// the bound.
func (s *Store) KVGetManyMax(ctx context.Context, sc engine.Scope, keys []string, maxBytes int64) (map[string]json.RawMessage, error) {
	if err := checkScope("kv get many", sc); err != nil {
		return nil, err
	}
	for i, k := range keys {
		if err := checkText(fmt.Sprintf("keys[%d]", i), k); err != nil {
			return nil, fmt.Errorf("store: kv get many: %w", err)
		}
	}
	out := make(map[string]json.RawMessage, len(keys))
	var total int64
	for start := 0; start < len(keys); start += kvChunk {
		chunk := keys[start:min(start+kvChunk, len(keys))]
		q, args, err := sqlx.In("SELECT key, value FROM kv WHERE plugin_id = ? AND server_id = ? AND key IN (?)", sc.PluginID, sc.ServerID, chunk)
		if err != nil {
			return nil, fmt.Errorf("store: kv get many: %w", err)
		}
		rows, err := s.rdb.QueryContext(ctx, s.q(q), args...)
		if err != nil {
			return nil, fmt.Errorf("store: kv get many: %w", s.dbErr(err))
		}
		for rows.Next() {
			var k string
			var v []byte
			if err := rows.Scan(&k, &v); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: kv get many: %w", err)
			}
			if total += int64(len(k) + len(v)); maxBytes > 0 && total > maxBytes {
				rows.Close()
				return nil, fmt.Errorf("store: kv get many: %w: the values pass %d bytes, the most one result may hold; get fewer keys at once", engine.ErrLimit, maxBytes)
			}
			out[k] = json.RawMessage(v)
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("store: kv get many: %w", s.dbErr(err))
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: kv get many: %w", s.dbErr(err))
		}
	}
	return out, nil
}

// prefixCond returns the SQL condition (with ? placeholders) and arguments
// selecting keys that start with prefix, every character taken literally.
// SQLite: a byte range [prefix, prefix with its last byte incremented), exact
// under BINARY collation and index-friendly; UTF-8 never contains 0xFF, so
// the increment cannot overflow. PostgreSQL text must be valid UTF-8, which
// that bound may not be, so there it is LIKE with %, _ and \ escaped (case
// sensitive, and index-friendly under COLLATE "C").
func (s *Store) prefixCond(prefix string) (string, []any) {
	if prefix == "" {
		return "", nil
	}
	if s.d == dialectPostgres {
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix)
		return ` AND key LIKE ? ESCAPE '\'`, []any{esc + "%"}
	}
	upper := []byte(prefix)
	upper[len(upper)-1]++
	return " AND key >= ? AND key < ?", []any{prefix, string(upper)}
}

// KVList returns keys with the prefix, sorted by bytes; limit <= 0: all;
// no bound on their size (for tools and tests; plugins' calls go through
// KVListMax).
func (s *Store) KVList(ctx context.Context, sc engine.Scope, prefix string, limit int) ([]string, error) {
	return s.KVListMax(ctx, sc, prefix, limit, 0)
}

// KVListMax returns keys with the prefix, sorted by bytes; limit <= 0: all.
// Once the keys pass maxBytes (<= 0: no bound) it stops reading and fails
// with engine.ErrLimit.
func (s *Store) KVListMax(ctx context.Context, sc engine.Scope, prefix string, limit int, maxBytes int64) ([]string, error) {
	if err := checkScope("kv list", sc); err != nil {
		return nil, err
	}
	if err := checkText("prefix", prefix); err != nil {
		return nil, fmt.Errorf("store: kv list: %w", err)
	}
	cond, pargs := s.prefixCond(prefix)
	q := "SELECT key FROM kv WHERE plugin_id = ? AND server_id = ?" + cond + " ORDER BY key"
	args := append([]any{sc.PluginID, sc.ServerID}, pargs...)
	if limit > 0 {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	rows, err := s.rdb.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("store: kv list: %w", s.dbErr(err))
	}
	defer rows.Close()
	keys := []string{}
	var total int64
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("store: kv list: %w", err)
		}
		if total += int64(len(k)); maxBytes > 0 && total > maxBytes {
			return nil, fmt.Errorf("store: kv list: %w: the keys pass %d bytes, the most one result may hold; list with a limit or a longer prefix", engine.ErrLimit, maxBytes)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: kv list: %w", s.dbErr(err))
	}
	return keys, nil
}

// KVCount counts keys with the prefix.
func (s *Store) KVCount(ctx context.Context, sc engine.Scope, prefix string) (int, error) {
	if err := checkScope("kv count", sc); err != nil {
		return 0, err
	}
	if err := checkText("prefix", prefix); err != nil {
		return 0, fmt.Errorf("store: kv count: %w", err)
	}
	cond, pargs := s.prefixCond(prefix)
	var n int
	if err := s.rdb.GetContext(ctx, &n, s.q("SELECT count(*) FROM kv WHERE plugin_id = ? AND server_id = ?"+cond),
		append([]any{sc.PluginID, sc.ServerID}, pargs...)...); err != nil {
		return 0, fmt.Errorf("store: kv count: %w", s.dbErr(err))
	}
	return n, nil
}

// KVSet writes one value; see KVSetMany for the quota rule.
func (s *Store) KVSet(ctx context.Context, sc engine.Scope, key string, value json.RawMessage, q engine.Quota) error {
	if err := s.kvSet(ctx, sc, map[string]json.RawMessage{key: value}, q); err != nil {
		return fmt.Errorf("store: kv set: %w", err)
	}
	return nil
}

// KVSetMany writes all values or none. The quota (MaxKeys keys, MaxBytes =
// sum of len(key)+len(value) in the scope; <= 0 means no bound) is checked
// against the scope's counters inside the write transaction, with the
// counter row locked, so concurrent writers (goroutines or maid nodes) can
// never pass it together. A write that does not increase a counter is
// allowed even when the scope is already over a lowered quota. Writing into
// a scope of a plugin that is not installed is ErrNotFound.
func (s *Store) KVSetMany(ctx context.Context, sc engine.Scope, values map[string]json.RawMessage, q engine.Quota) error {
	if err := s.kvSet(ctx, sc, values, q); err != nil {
		return fmt.Errorf("store: kv set many: %w", err)
	}
	return nil
}

func (s *Store) kvSet(ctx context.Context, sc engine.Scope, values map[string]json.RawMessage, q engine.Quota) error {
	if err := checkScope("kv set", sc); err != nil {
		return err
	}
	if len(values) == 0 {
		return nil
	}
	keys := make([]string, 0, len(values))
	var newBytes int64
	for k, v := range values {
		if err := checkText("key", k); err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
		if len(v) == 0 {
			return fmt.Errorf("value of key %q: must be a JSON document, got nothing: %w", k, engine.ErrInvalid)
		}
		keys = append(keys, k)
		newBytes += int64(len(k) + len(v))
	}
	// A fixed order keeps row locks (PostgreSQL) in one order across writers.
	sort.Strings(keys)
	return s.kvGroup.submit(&kvWrite{ctx: ctx, sc: sc, keys: keys, values: values, newBytes: newBytes, q: q})
}

// kvSetIn applies one write inside tx (the group's transaction, within the
// write's savepoint when it shares the group).
func (s *Store) kvSetIn(ctx context.Context, tx *sqlx.Tx, w *kvWrite) error {
	sc, keys, q := w.sc, w.keys, w.q
	if skip, err := s.fenceTx(ctx, tx); err != nil || skip {
		return err
	}
	keyCount, byteCount, err := s.lockUsage(ctx, tx, sc)
	if err != nil {
		return err
	}
	existing, oldBytes, err := s.existingSizes(ctx, tx, sc, keys)
	if err != nil {
		return err
	}
	nk := keyCount + int64(len(keys)-existing)
	nb := byteCount - oldBytes + w.newBytes
	if q.MaxKeys > 0 && nk > int64(q.MaxKeys) && nk > keyCount {
		return fmt.Errorf("scope %s/%s would hold %d keys, quota is %d: %w", sc.PluginID, sc.ServerID, nk, q.MaxKeys, engine.ErrQuota)
	}
	if q.MaxBytes > 0 && nb > q.MaxBytes && nb > byteCount {
		return fmt.Errorf("scope %s/%s would hold %d bytes, quota is %d: %w", sc.PluginID, sc.ServerID, nb, q.MaxBytes, engine.ErrQuota)
	}
	ins, err := s.txStmt(ctx, tx, kvInsertSQL)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if _, err := ins.ExecContext(ctx, sc.PluginID, sc.ServerID, k, []byte(w.values[k])); err != nil {
			return s.dbErr(err)
		}
	}
	return s.setUsage(ctx, tx, sc, nk, nb)
}

// lockUsage creates the scope's counter row if needed and returns it, in
// one statement. The upsert's DO UPDATE locks the row until the transaction
// ends, which serializes writers of one scope on PostgreSQL; on SQLite the
// immediate write transaction already holds the database lock.
func (s *Store) lockUsage(ctx context.Context, tx *sqlx.Tx, sc engine.Scope) (keys, bytes int64, err error) {
	st, err := s.txStmt(ctx, tx, kvUsageLockSQL)
	if err != nil {
		return 0, 0, err
	}
	err = st.QueryRowxContext(ctx, sc.PluginID, sc.ServerID).Scan(&keys, &bytes)
	if isFKViolation(err) {
		return 0, 0, fmt.Errorf("plugin %q: %w", sc.PluginID, engine.ErrNotFound)
	}
	if err != nil {
		return 0, 0, s.dbErr(err)
	}
	return keys, bytes, nil
}

func (s *Store) setUsage(ctx context.Context, tx *sqlx.Tx, sc engine.Scope, keys, bytes int64) error {
	st, err := s.txStmt(ctx, tx, kvUsageSetSQL)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, keys, bytes, sc.PluginID, sc.ServerID)
	return s.dbErr(err)
}

// existingSizes counts which of keys exist and their current len(key)+len(value).
func (s *Store) existingSizes(ctx context.Context, tx *sqlx.Tx, sc engine.Scope, keys []string) (n int, bytes int64, err error) {
	if len(keys) == 1 { // ctx.kv.set: one prepared statement
		st, err := s.txStmt(ctx, tx, kvSizeSQL)
		if err != nil {
			return 0, 0, err
		}
		var vl int64
		err = st.QueryRowxContext(ctx, sc.PluginID, sc.ServerID, keys[0]).Scan(&vl)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, 0, nil
		}
		if err != nil {
			return 0, 0, s.dbErr(err)
		}
		return 1, int64(len(keys[0])) + vl, nil
	}
	for start := 0; start < len(keys); start += kvChunk {
		chunk := keys[start:min(start+kvChunk, len(keys))]
		q, args, err := sqlx.In("SELECT key, length(value) FROM kv WHERE plugin_id = ? AND server_id = ? AND key IN (?)",
			sc.PluginID, sc.ServerID, chunk)
		if err != nil {
			return 0, 0, err
		}
		rows, err := tx.QueryContext(ctx, s.q(q), args...)
		if err != nil {
			return 0, 0, s.dbErr(err)
		}
		for rows.Next() {
			var k string
			var vl int64
			if err := rows.Scan(&k, &vl); err != nil {
				rows.Close()
				return 0, 0, err
			}
			n++
			bytes += int64(len(k)) + vl
		}
		if err := rows.Close(); err != nil {
			return 0, 0, s.dbErr(err)
		}
		if err := rows.Err(); err != nil {
			return 0, 0, s.dbErr(err)
		}
	}
	return n, bytes, nil
}

// KVDelete removes a key, reporting whether it existed.
func (s *Store) KVDelete(ctx context.Context, sc engine.Scope, key string) (bool, error) {
	if err := checkScope("kv delete", sc); err != nil {
		return false, err
	}
	if err := checkText("key", key); err != nil {
		return false, fmt.Errorf("store: kv delete: %w", err)
	}
	var deleted bool
	err := s.writeTx(ctx, func(tx *sqlx.Tx) error {
		if skip, err := s.fenceTx(ctx, tx); err != nil || skip {
			return err
		}
		q := "SELECT key_count, byte_count FROM kv_usage WHERE plugin_id = ? AND server_id = ?"
		if s.d == dialectPostgres {
			q += " FOR UPDATE"
		}
		var keys, bytes int64
		err := tx.QueryRowxContext(ctx, s.q(q), sc.PluginID, sc.ServerID).Scan(&keys, &bytes)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // nothing was ever written in this scope
		}
		if err != nil {
			return s.dbErr(err)
		}
		var vlen int64
		err = tx.QueryRowxContext(ctx, s.q("DELETE FROM kv WHERE plugin_id = ? AND server_id = ? AND key = ? RETURNING length(value)"),
			sc.PluginID, sc.ServerID, key).Scan(&vlen)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return s.dbErr(err)
		}
		deleted = true
		return s.setUsage(ctx, tx, sc, keys-1, bytes-vlen-int64(len(key)))
	})
	if err != nil {
		return false, fmt.Errorf("store: kv delete: %w", err)
	}
	return deleted, nil
}
