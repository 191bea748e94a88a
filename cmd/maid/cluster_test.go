package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestServeClusterRefusals(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"SQLite store", []string{"--cluster", "--discord-url", "http://127.0.0.1:1/", "--db", "sqlite://" + filepath.Join(dir, "m.db")}, "needs a PostgreSQL store"},
		{"no token", []string{"--cluster", "--db", "sqlite://" + filepath.Join(dir, "m.db")}, "needs --discord-token"},
		{"static shards", []string{"--cluster", "--discord-token", "x", "--shard-id", "0"}, "takes no --shard-id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			args := append([]string{"--data-dir", dir, "--backend", "process"}, tt.args...)
			if code := runServe(context.Background(), args, &bytes.Buffer{}, &stderr); code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("stderr does not say %q:\n%s", tt.want, stderr.String())
			}
		})
	}
}

// TestFakeDiscordCommand: maid fakediscord serves the gateway URL and
// GET /stats on the address asked for.
func TestFakeDiscordCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stdout, stderr bytes.Buffer
	go func() {
		done <- runFakeDiscord(ctx, []string{"--addr", addr, "--shards", "4", "--guilds", "8", "--rate", "50"}, &stdout, &stderr)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d: %s", code, stderr.String())
		}
	}()
	var st struct {
		Shards map[string]any `json:"shards"`
		REST   map[string]int `json:"rest"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/v9/gateway", nil)
		req.Header.Set("Authorization", "Bot "+fakeToken)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("fakediscord did not answer: %v; stderr %s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get("http://" + addr + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.REST["GET /gateway"] != 1 {
		t.Errorf("stats: %+v, want the one GET /gateway counted", st)
	}
}
