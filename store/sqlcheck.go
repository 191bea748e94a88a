package store

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/maidhq/maid/engine"
)

// A conservative lexer for plugin SQL. It is not the security barrier (that
// is SQLite's authorizer and PostgreSQL role privileges); it enforces "one
// statement per call", rejects statement kinds plugins have no use for, and
// finds ? placeholders outside literals. When unsure it errs towards seeing
// more statements or more words, which only rejects more.

type sqlScan struct {
	statements int      // non-empty statements separated by ;
	words      []string // bare words of the first statement, upper case
	idents     []string // every bare word (lower case) and quoted identifier (as written)
	qmarks     []int    // byte offsets of ? placeholders outside literals
	dollarNums bool     // a $1-style parameter appears (PostgreSQL)
	unicode    bool     // U&"..." or U&'...' (PostgreSQL escapes that hide words)
}

func isWordStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isWordByte(c byte) bool { return isWordStart(c) || c >= '0' && c <= '9' || c == '$' }

func scanSQL(q string, d dialect) sqlScan {
	var sc sqlScan
	cur := false // the current statement has a token
	token := func() {
		cur = true
	}
	n := len(q)
	for i := 0; i < n; {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && i+1 < n && q[i+1] == '-':
			for i < n && q[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < n && q[i+1] == '*':
			// PostgreSQL nests block comments; SQLite does not.
			depth := 1
			i += 2
			for i < n && depth > 0 {
				if q[i] == '*' && i+1 < n && q[i+1] == '/' {
					depth--
					i += 2
				} else if d == dialectPostgres && q[i] == '/' && i+1 < n && q[i+1] == '*' {
					depth++
					i += 2
				} else {
					i++
				}
			}
		case c == ';':
			if cur {
				sc.statements++
				cur = false
			}
			i++
		case c == '\'':
			token()
			i = skipQuoted(q, i, '\'', false)
		case c == '"':
			token()
			end := skipQuoted(q, i, '"', false)
			sc.idents = append(sc.idents, strings.ReplaceAll(q[i+1:max(i+1, end-1)], `""`, `"`))
			i = end
		case d == dialectSQLite && c == '`':
			token()
			end := skipQuoted(q, i, '`', false)
			sc.idents = append(sc.idents, q[i+1:max(i+1, end-1)])
			i = end
		case d == dialectSQLite && c == '[':
			token()
			end := strings.IndexByte(q[i:], ']')
			if end < 0 {
				sc.idents = append(sc.idents, q[i+1:])
				i = n
			} else {
				sc.idents = append(sc.idents, q[i+1:i+end])
				i += end + 1
			}
		case c == '?':
			token()
			sc.qmarks = append(sc.qmarks, i)
			i++
		case c == '$' && d == dialectPostgres:
			token()
			j := i + 1
			for j < n && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if j > i+1 {
				sc.dollarNums = true
				i = j
				break
			}
			// $tag$ ... $tag$ (tag may be empty).
			j = i + 1
			for j < n && (isWordStart(q[j]) || q[j] >= '0' && q[j] <= '9') {
				j++
			}
			if j < n && q[j] == '$' {
				tag := q[i : j+1]
				end := strings.Index(q[j+1:], tag)
				if end < 0 {
					i = n
				} else {
					i = j + 1 + end + len(tag)
				}
				break
			}
			i++
		case isWordStart(c):
			token()
			j := i + 1
			for j < n && isWordByte(q[j]) {
				j++
			}
			w := q[i:j]
			if d == dialectPostgres && j < n && q[j] == '\'' && (w == "E" || w == "e") {
				// E'...': backslash escapes, so \' does not end the string.
				i = skipQuoted(q, j, '\'', true)
				break
			}
			if d == dialectPostgres && (w == "U" || w == "u") && j+1 < n && q[j] == '&' && (q[j+1] == '\'' || q[j+1] == '"') {
				sc.unicode = true
			}
			if sc.statements == 0 {
				sc.words = append(sc.words, strings.ToUpper(w))
			}
			sc.idents = append(sc.idents, strings.ToLower(w))
			i = j
		default:
			token()
			i++
		}
	}
	if cur {
		sc.statements++
	}
	return sc
}

// skipQuoted returns the index after the literal starting at q[i] (the
// opening quote), where a doubled quote is an escaped one and, if backslash,
// a backslash escapes the next byte. An unterminated literal runs to the end.
func skipQuoted(q string, i int, quote byte, backslash bool) int {
	n := len(q)
	for j := i + 1; j < n; j++ {
		switch {
		case backslash && q[j] == '\\':
			j++
		case q[j] == quote:
			if j+1 < n && q[j+1] == quote {
				j++
				continue
			}
			return j + 1
		}
	}
	return n
}

// Statement kinds plugins may run. Everything else (ATTACH, PRAGMA, SET,
// COPY, DO, transaction control, GRANT, ...) is denied.
var (
	sqliteFirst = map[string]bool{"SELECT": true, "WITH": true, "INSERT": true, "REPLACE": true, "UPDATE": true,
		"DELETE": true, "VALUES": true, "CREATE": true, "ALTER": true, "DROP": true, "REINDEX": true, "ANALYZE": true, "EXPLAIN": true}
	sqliteObjects = map[string]bool{"TABLE": true, "INDEX": true, "VIEW": true, "TRIGGER": true, "VIRTUAL": true}
	pgFirst       = map[string]bool{"SELECT": true, "WITH": true, "INSERT": true, "UPDATE": true, "DELETE": true,
		"VALUES": true, "TABLE": true, "MERGE": true, "CREATE": true, "ALTER": true, "DROP": true, "TRUNCATE": true,
		"EXPLAIN": true}
	pgObjects = map[string]bool{"TABLE": true, "INDEX": true, "VIEW": true, "SEQUENCE": true, "TYPE": true,
		"DOMAIN": true, "MATERIALIZED": true}
	// Words skipped between CREATE and the object kind.
	createModifiers = map[string]bool{"OR": true, "REPLACE": true, "UNIQUE": true, "UNLOGGED": true, "RECURSIVE": true}
	// PostgreSQL functions that change session state, take cluster-wide
	// locks, or touch files and large objects. The role's privileges stop
	// most of these anyway; denying them keeps a plugin from holding
	// advisory locks maid uses or escaping the size limit via large objects.
	//
	// Functions that run SQL given as text (query_to_xml, ts_stat, ...) are
	// denied too: the lexer does not look inside string literals, so any
	// other denied function could be called through them (large objects
	// past the size limit, another plugin's advisory lock, set_config).
	// COMMENT is not a statement plugins may run (it stored unbounded text
	// in pg_description, outside the size limit).
	pgDeniedFuncs = map[string]bool{"set_config": true, "pg_terminate_backend": true, "pg_cancel_backend": true, "pg_reload_conf": true, "pg_rotate_logfile": true, "pg_promote": true, "pg_stat_file": true, "pg_ls_dir": true,
		"ts_stat": true, "ts_rewrite": true, "pg_notify": true, "loread": true, "lowrite": true}
	pgDeniedPrefixes = []string{"pg_advisory", "pg_try_advisory", "lo_", "pg_read_", "pg_ls_", "pg_file", "dblink", "pg_logical", "pg_replication", "pg_create_", "pg_drop_", "pg_import_",
		"query_to_xml", "cursor_to_xml", "table_to_xml", "schema_to_xml", "database_to_xml"}
)

// checkPluginSQL enforces one statement of an allowed kind.
func checkPluginSQL(q string, d dialect) (sqlScan, error) {
	sc := scanSQL(q, d)
	switch {
	case sc.statements == 0:
		return sc, fmt.Errorf("sql: empty statement: %w", engine.ErrInvalid)
	case sc.statements > 1:
		return sc, fmt.Errorf("sql: one statement per call, got %d: %w", sc.statements, engine.ErrSQLDenied)
	case len(sc.words) == 0:
		return sc, fmt.Errorf("sql: statement must start with a keyword: %w", engine.ErrSQLDenied)
	}
	first, objects := sqliteFirst, sqliteObjects
	if d == dialectPostgres {
		first, objects = pgFirst, pgObjects
	}
	kw := sc.words[0]
	if !first[kw] {
		return sc, fmt.Errorf("sql: %s statements are not allowed: %w", kw, engine.ErrSQLDenied)
	}
	if kw == "CREATE" || kw == "ALTER" || kw == "DROP" {
		i := 1
		for kw == "CREATE" && i < len(sc.words) && createModifiers[sc.words[i]] {
			i++
		}
		if i >= len(sc.words) || !objects[sc.words[i]] {
			what := "nothing"
			if i < len(sc.words) {
				what = sc.words[i]
			}
			return sc, fmt.Errorf("sql: %s %s is not allowed: %w", kw, what, engine.ErrSQLDenied)
		}
	}
	if d == dialectPostgres {
		if sc.unicode {
			return sc, fmt.Errorf("sql: U& escapes are not allowed: %w", engine.ErrSQLDenied)
		}
		for _, id := range sc.idents {
			l := strings.ToLower(id)
			if pgDeniedFuncs[l] {
				return sc, fmt.Errorf("sql: %s is not allowed: %w", id, engine.ErrSQLDenied)
			}
			for _, p := range pgDeniedPrefixes {
				if strings.HasPrefix(l, p) {
					return sc, fmt.Errorf("sql: %s is not allowed: %w", id, engine.ErrSQLDenied)
				}
			}
		}
	}
	return sc, nil
}

// rebindQmarks rewrites ? placeholders to $1, $2, ... for PostgreSQL, so
// plugins can write the same placeholders on both databases. Queries that
// already use $n are left alone (and may then use the jsonb ? operators).
func rebindQmarks(q string, sc sqlScan) string {
	if sc.dollarNums || len(sc.qmarks) == 0 {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 2*len(sc.qmarks))
	prev := 0
	for i, off := range sc.qmarks {
		b.WriteString(q[prev:off])
		// Spaces keep $n a token of its own: "a$1" would be an identifier
		// and "$x$1" a dollar quote.
		if off > 0 && (isWordByte(q[off-1]) || q[off-1] == '$') {
			b.WriteByte(' ')
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(i + 1))
		if off+1 < len(q) && isWordByte(q[off+1]) {
			b.WriteByte(' ')
		}
		prev = off + 1
	}
	b.WriteString(q[prev:])
	return b.String()
}
