//go:build tools

// Package tools pins the third-party modules maid is built on, so that
// `go mod tidy` keeps them while the packages that use them are written.
package tools

import (
	_ "github.com/bwmarrin/discordgo"
	_ "github.com/chromedp/chromedp"
	_ "github.com/docker/docker/client"
	_ "github.com/gorilla/websocket"
	_ "github.com/jmoiron/sqlx"
	_ "github.com/labstack/echo/v4"
	_ "github.com/lib/pq"
	_ "github.com/microcosm-cc/bluemonday"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/tetratelabs/wazero"
	_ "github.com/yuin/goldmark"
	_ "modernc.org/sqlite"
)
