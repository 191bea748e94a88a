package store

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"modernc.org/sqlite"
)

// Plugin SQL runs inside maid (modernc.org/sqlite is SQLite compiled to Go),
// and SQLite checks its interrupt only between VDBE opcodes: one call of a
// built-in function runs to completion whatever the statement timeout. Some
// built-ins cost the product of their arguments' lengths (ltrim of 50,000
// bytes by a 50,000-byte character set took 17 s; instr and replace are
// O(haystack x needle) in the worst case). Plugin connections are therefore
// opened by their own driver, on which these functions are replaced by Go
// ports of SQLite's own code (same results, byte for byte, which
// TestSQLiteFuncOverrides checks against the built-ins) that use linear
// algorithms and give up past a fixed amount of work with SQLITE_TOOBIG-like
// "too much work" errors instead of running for minutes. LIKE and GLOB keep
// SQLite's implementation (it serves the LIKE index optimisation) with the
// pattern length bounded (SQLITE_LIMIT_LIKE_PATTERN_LENGTH), which bounds
// their O(value x pattern) cost. maid's own database keeps the built-ins.

// sqliteFuncWork bounds the steps (bytes compared or hashed) of one call of
// an overridden function: about 0.1 s of CPU.
const sqliteFuncWork = 1 << 27

// sqliteLikePatternMax bounds LIKE and GLOB patterns on plugin connections:
// their cost is up to value length x pattern length, under 1 s for a
// 4 MiB value and a pattern of this length.
const sqliteLikePatternMax = 50

// sqliteLimitLikePattern is SQLITE_LIMIT_LIKE_PATTERN_LENGTH.
const sqliteLimitLikePattern = 8

// errSQLFuncWork is returned by a function call that would do more work
// than sqliteFuncWork; SQLite reports it as the statement's error.
var errSQLFuncWork = errors.New("sql function call needs too much work (its cost grows with the product of its arguments' lengths)")

// errSQLFuncTooBig is SQLite's own message for an oversize value, so the
// error maps like SQLite's.
var errSQLFuncTooBig = errors.New("string or blob too big")

// sqliteFuncMaxLen is the longest value an overridden function returns: the
// SQLITE_LIMIT_LENGTH plugin statements run with (the last one set). SQLite
// checks the real limit again on the result; this keeps the Go side from
// building a larger value first.
var sqliteFuncMaxLen atomic.Int64

func init() { sqliteFuncMaxLen.Store(1 << 30) }

// pluginDriver opens plugin connections: a driver of its own, so the
// overrides never apply to maid's database.
var pluginDriver = newPluginDriver()

func newPluginDriver() *sqlite.Driver {
	drv := &sqlite.Driver{}
	reg := func(name string, n int32, fn func(args []driver.Value) (driver.Value, error)) {
		if err := drv.RegisterFunction(name, &sqlite.FunctionImpl{
			NArgs:         n,
			Deterministic: true,
			// Volatile: the arguments' real bytes (a copied TEXT would stop
			// at its first NUL); no function below keeps them.
			VolatileArgs: true,
			Scalar: func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
				return fn(args)
			},
		}); err != nil {
			panic("register plugin sql function " + name + ": " + err.Error())
		}
	}
	reg("ltrim", 2, func(a []driver.Value) (driver.Value, error) { return sqlTrim(a, 1) })
	reg("rtrim", 2, func(a []driver.Value) (driver.Value, error) { return sqlTrim(a, 2) })
	reg("trim", 2, func(a []driver.Value) (driver.Value, error) { return sqlTrim(a, 3) })
	reg("instr", 2, sqlInstr)
	reg("replace", 3, sqlReplace)
	return drv
}

// pluginConnector opens connections to dsn with pluginDriver.
type pluginConnector struct{ dsn string }

func (c pluginConnector) Connect(context.Context) (driver.Conn, error) {
	return pluginDriver.Open(c.dsn)
}

func (c pluginConnector) Driver() driver.Driver { return pluginDriver }

// sqlText is sqlite3_value_text of a function argument: its bytes, with
// numbers rendered as SQLite renders them; ok is false for NULL.
func sqlText(v driver.Value) (b []byte, ok bool, err error) {
	switch x := v.(type) {
	case nil:
		return nil, false, nil
	case string:
		return []byte(x), true, nil // copied: the argument is volatile
	case []byte:
		return bytes.Clone(x), true, nil
	case int64:
		return strconv.AppendInt(nil, x, 10), true, nil
	case float64:
		s, err := sqliteFloatText(x)
		return []byte(s), err == nil, err
	default:
		return nil, false, fmt.Errorf("unexpected sqlite value %T", v)
	}
}

// floatDB renders REALs as text: SQLite's own digits (its 17-digit
// rendering is not Go's), on a connection of the default driver.
var floatDB = sync.OnceValues(func() (*sql.DB, error) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
})

// sqliteFloatText renders a REAL exactly as SQLite does (CAST(r AS TEXT)).
func sqliteFloatText(f float64) (string, error) {
	db, err := floatDB()
	if err != nil {
		return "", fmt.Errorf("render real: %w", err)
	}
	var s string
	if err := db.QueryRow("SELECT CAST(? AS TEXT)", f).Scan(&s); err != nil {
		return "", fmt.Errorf("render real: %w", err)
	}
	return s, nil
}

// sqlTrim is SQLite's trimFunc with a character set (flags 1: ltrim, 2:
// rtrim, 3: trim). The set is split into characters as SQLite does (a byte
// >= 0xc0 and the continuation bytes after it, else one byte), up to its
// first NUL; at each end, of the characters the text starts (ends) with,
// the first one in the set is removed, until none matches. SQLite tries
// every character of the set at every step; here each step looks up only
// the lengths a character there can have.
func sqlTrim(args []driver.Value, flags int) (driver.Value, error) {
	in, ok, err := sqlText(args[0])
	if !ok {
		return nil, err
	}
	set, ok, err := sqlText(args[1])
	if !ok {
		return nil, err
	}
	if i := bytes.IndexByte(set, 0); i >= 0 {
		set = set[:i]
	}
	if len(set) == 0 {
		return string(in), nil
	}
	if len(set) > sqliteTrimSetMax {
		return trimDirect(in, set, flags)
	}
	// first[c] is the index of the first occurrence of character c in set.
	first := map[string]int{}
	single := [256]int{}
	for i := range single {
		single[i] = -1
	}
	lens := map[int]bool{} // lengths of the multi-byte characters
	for i, n := 0, 0; i < len(set); n++ {
		j := charEnd(set, i)
		c := string(set[i:j])
		if j-i == 1 {
			if single[set[i]] < 0 {
				single[set[i]] = n
			}
		} else if _, dup := first[c]; !dup {
			first[c] = n
			lens[j-i] = true
		}
		i = j
	}
	work := 0
	// best returns the length of the first set character of the candidates
	// (the byte oneIdx stands for, and multi), or 0.
	best := func(oneIdx int, multi []byte) (int, error) {
		idx, n := oneIdx, 1
		if multi != nil && lens[len(multi)] {
			work += len(multi)
			if work > sqliteFuncWork {
				return 0, errSQLFuncWork
			}
			if i, ok := first[string(multi)]; ok && (idx < 0 || i < idx) {
				idx, n = i, len(multi)
			}
		}
		if idx < 0 {
			return 0, nil
		}
		return n, nil
	}
	return trimEnds(in, flags, func(lo, hi int, left bool) (int, error) {
		if left {
			// Candidates: the byte alone, and a lead byte with each run of
			// continuation bytes after it up to the longest character.
			n := 0
			idx := single[in[lo]]
			if idx >= 0 {
				n = 1
			}
			if in[lo] >= 0xc0 {
				for j := lo + 1; j < hi && in[j]&0xc0 == 0x80; j++ {
					l := j + 1 - lo
					if !lens[l] {
						continue
					}
					work += l
					if work > sqliteFuncWork {
						return 0, errSQLFuncWork
					}
					if i, ok := first[string(in[lo:j+1])]; ok && (idx < 0 || i < idx) {
						idx, n = i, l
					}
				}
			}
			work++
			if n != 0 && work > sqliteFuncWork {
				return 0, errSQLFuncWork
			}
			return n, nil
		}
		// Candidates: the last byte alone, and the trailing run of
		// continuation bytes with the lead byte before it.
		var multi []byte
		j := hi
		for j > lo && in[j-1]&0xc0 == 0x80 {
			j--
		}
		if j > lo && j < hi && in[j-1] >= 0xc0 {
			multi = in[j-1 : hi]
		}
		work++
		return best(single[in[hi-1]], multi)
	})
}

// trimEnds removes characters from the start of in (flags 1) and then from
// its end (flags 2) while match finds one there: match returns the length
// of the set character that in[lo:hi] starts (left) or ends with, or 0.
func trimEnds(in []byte, flags int, match func(lo, hi int, left bool) (int, error)) (driver.Value, error) {
	lo, hi := 0, len(in)
	if flags&1 != 0 {
		for lo < hi {
			n, err := match(lo, hi, true)
			if err != nil {
				return nil, err
			}
			if n == 0 {
				break
			}
			lo += n
		}
	}
	if flags&2 != 0 {
		for lo < hi {
			n, err := match(lo, hi, false)
			if err != nil {
				return nil, err
			}
			if n == 0 {
				break
			}
			hi -= n
		}
	}
	return string(in[lo:hi]), nil
}

// charEnd is the end of the character at s[i] as SQLite splits text: a
// byte >= 0xc0 with the continuation bytes after it, else the one byte.
func charEnd(s []byte, i int) int {
	j := i + 1
	if s[i] >= 0xc0 {
		for j < len(s) && s[j]&0xc0 == 0x80 {
			j++
		}
	}
	return j
}

// sqliteTrimSetMax is the largest character set sqlTrim indexes in maps
// (a few MiB of Go memory at most); larger sets are scanned as SQLite does.
const sqliteTrimSetMax = 64 << 10

// trimDirect is SQLite's loop itself, for character sets too large to
// index: every character of the set is tried at every step, in order, and
// the call fails once that has cost about sqliteFuncWork steps.
func trimDirect(in, set []byte, flags int) (driver.Value, error) {
	work := 0
	// step returns the length of the first character of set that in[lo:hi]
	// starts (left) or ends (right) with, or 0.
	step := func(lo, hi int, left bool) (int, error) {
		for i := 0; i < len(set); {
			j := charEnd(set, i)
			c := set[i:j]
			i = j
			work += len(c) + 16 // the loop's own cost per character

			if work > sqliteFuncWork {
				return 0, errSQLFuncWork
			}
			if len(c) > hi-lo {
				continue
			}
			if left && bytes.Equal(in[lo:lo+len(c)], c) || !left && bytes.Equal(in[hi-len(c):hi], c) {
				return len(c), nil
			}
		}
		return 0, nil
	}
	return trimEnds(in, flags, step)
}

// sqlInstr is SQLite's instrFunc: the 1-based position of the first
// occurrence, in characters for text (matches start only at character
// boundaries) and bytes when both arguments are blobs; 0 when absent, 1 for
// an empty needle, NULL when either is NULL.
func sqlInstr(args []driver.Value) (driver.Value, error) {
	if args[0] == nil || args[1] == nil {
		return nil, nil
	}
	_, hBlob := args[0].([]byte)
	_, nBlob := args[1].([]byte)
	h, _, err := sqlText(args[0])
	if err != nil {
		return nil, err
	}
	n, _, err := sqlText(args[1])
	if err != nil {
		return nil, err
	}
	if len(n) == 0 {
		return int64(1), nil
	}
	if hBlob && nBlob {
		i := bytes.Index(h, n)
		return int64(i + 1), nil
	}
	if n[0]&0xc0 == 0x80 {
		// SQLite tries position 0 and then only character starts, where a
		// continuation byte cannot be.
		if bytes.HasPrefix(h, n) {
			return int64(1), nil
		}
		return int64(0), nil
	}
	i := bytes.Index(h, n)
	if i < 0 {
		return int64(0), nil
	}
	if i == 0 {
		return int64(1), nil
	}
	// Positions SQLite tried before i: 0, then every non-continuation byte.
	pos := int64(2)
	for _, c := range h[1:i] {
		if c&0xc0 != 0x80 {
			pos++
		}
	}
	return pos, nil
}

// sqlReplace is SQLite's replaceFunc: every non-overlapping occurrence of
// the pattern, left to right, replaced; NULL if any argument is NULL; X
// as text when the pattern is empty or starts with NUL.
func sqlReplace(args []driver.Value) (driver.Value, error) {
	str, ok, err := sqlText(args[0])
	if !ok {
		return nil, err
	}
	pat, ok, err := sqlText(args[1])
	if !ok {
		return nil, err
	}
	if len(pat) == 0 || pat[0] == 0 {
		return string(str), nil
	}
	rep, ok, err := sqlText(args[2])
	if !ok {
		return nil, err
	}
	count := int64(bytes.Count(str, pat))
	if count == 0 {
		return string(str), nil
	}
	if size := int64(len(str)) + count*(int64(len(rep))-int64(len(pat))); size > sqliteFuncMaxLen.Load() {
		return nil, errSQLFuncTooBig
	}
	return string(bytes.ReplaceAll(str, pat, rep)), nil
}
