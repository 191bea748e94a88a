// The dashboard's own script: theme switch, manifest widgets (server-side
// rendered fragments), widget forms, the MaidSDK host side for plugin
// iframes, and the simulator console. No inline scripts anywhere (CSP).
(function () {
  "use strict";
  var UI = window.MaidUI;

  function theme() { return document.documentElement.getAttribute("data-theme") === "light" ? "light" : "dark"; }

  // ---- theme ----
  var frames = [];
  var toggle = document.getElementById("theme-toggle");
  if (toggle) {
    toggle.addEventListener("click", function () {
      var t = theme() === "dark" ? "light" : "dark";
      document.documentElement.setAttribute("data-theme", t);
      try { localStorage.setItem("maid-theme", t); } catch (e) { /* private mode */ }
      frames.forEach(function (f) { f.send({ type: "event", event: "theme", data: t }); });
    });
  }

  // ---- confirm before destructive form posts ----
  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    if (!f.matches || !f.matches("form[data-confirm]") || f.dataset.confirmed) return;
    ev.preventDefault();
    UI.confirm(f.dataset.confirm, { ok: f.dataset.confirmOk, danger: f.dataset.confirmDanger === "1" }).then(function (yes) {
      if (yes) { f.dataset.confirmed = "1"; f.submit(); }
    });
  });

  // ---- manifest widgets ----
  // A widget reloads on its refresh button, at its manifest's
  // refresh_seconds, and when the plugin's data on this server changes
  // (the page polls a version number; RATIONALE.md: why polling). A reload
  // keeps the widget's scroll positions and table page, and skips a form
  // the user is editing.
  function scrollers(el) {
    return [el].concat(Array.prototype.slice.call(el.querySelectorAll(".table-scroll, .kv-list, .markdown, .text-widget")));
  }
  function loadWidget(el, query) {
    var body = el.querySelector(".widget-body");
    if (query !== undefined) el.dataset.query = query;
    var src = el.dataset.src + (el.dataset.query || "");
    var first = !el.dataset.state || el.dataset.state === "loading";
    var keep = scrollers(el).map(function (n) { return [n.scrollTop, n.scrollLeft]; });
    if (first) el.dataset.state = "loading";
    el.classList.add("refreshing");
    return fetch(src, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (r) {
      return r.text().then(function (t) {
        if (!r.ok) throw new Error(r.status === 401 ? "your session ended: reload the page to sign in again" : "HTTP " + r.status);
        body.innerHTML = t; // server-rendered by html/template: escaped
        el.dataset.state = body.querySelector(".widget-error") ? "error" : "ready";
        scrollers(el).forEach(function (n, i) { if (keep[i]) { n.scrollTop = keep[i][0]; n.scrollLeft = keep[i][1]; } });
        el.dataset.loads = String(Number(el.dataset.loads || 0) + 1);
      });
    }).catch(function (e) {
      body.textContent = "";
      var d = document.createElement("div");
      d.className = "widget-error";
      d.setAttribute("role", "alert");
      d.textContent = "Could not load this widget: " + e.message;
      body.appendChild(d);
      el.dataset.state = "error";
    }).then(function () { el.classList.remove("refreshing"); });
  }
  // busy: a form in the widget has unsaved edits or the focus.
  function busy(el) {
    var f = el.querySelector("form.widget-form");
    return !!f && (f.dataset.dirty === "1" || f.contains(document.activeElement));
  }
  function refreshWidget(el, force) {
    if (el.dataset.inflight) return Promise.resolve();
    if (!force && busy(el)) { el.dataset.stale = "1"; return Promise.resolve(); }
    // Just saved and reloaded: keep its "Saved" status rather than reload again.
    if (!force && Number(el.dataset.quietUntil || 0) > Date.now()) return Promise.resolve();
    el.dataset.inflight = "1";
    delete el.dataset.stale;
    return loadWidget(el).then(function () { delete el.dataset.inflight; });
  }
  var widgets = Array.prototype.slice.call(document.querySelectorAll(".widget[data-src]"));
  widgets.forEach(function (w) { loadWidget(w); });
  widgets.forEach(function (w) {
    var every = Number(w.dataset.refresh);
    if (every >= 5) setInterval(function () { if (!document.hidden) refreshWidget(w, false); }, every * 1000);
  });
  document.addEventListener("input", function (ev) {
    var f = ev.target.closest && ev.target.closest("form.widget-form");
    if (f) f.dataset.dirty = "1";
  });

  var grid = document.querySelector(".widgets[data-version]");
  if (grid && widgets.length) {
    var seen = null, polling = false;
    var poll = function () {
      if (polling || document.hidden) return;
      polling = true;
      fetch(grid.dataset.version, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (j) {
          if (!j) return;
          if (seen !== null && j.v !== seen) widgets.forEach(function (w) { refreshWidget(w, false); });
          seen = j.v;
          grid.dataset.seen = j.v;
        })
        .catch(function () { /* offline for a moment: the next poll tries again */ })
        .then(function () { polling = false; });
    };
    poll();
    setInterval(poll, 2000);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) poll(); });
    grid.pollNow = poll;
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("button[data-goto]");
    if (b) {
      var w = b.closest(".widget");
      if (w) loadWidget(w, "?p=" + encodeURIComponent(b.dataset.goto));
      return;
    }
    var r = ev.target.closest && ev.target.closest("button[data-refresh-widget]");
    if (r) {
      var rw = r.closest(".widget");
      var f = rw.querySelector("form.widget-form");
      if (f) delete f.dataset.dirty; // asked for: the form shows the saved values again
      refreshWidget(rw, true);
    }
  });

  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    if (!f.matches || !f.matches("form.widget-form")) return;
    ev.preventDefault();
    var status = f.querySelector(".form-status");
    var btn = f.querySelector("button[type=submit]");
    status.className = "form-status";
    status.textContent = "Saving…";
    btn.disabled = true;
    UI.fetchJSON(f.dataset.save, { method: "POST", body: JSON.stringify({ values: UI.serializeForm(f) }) }).then(function (r) {
      if (r && r.ok === false) {
        var msg = r.error || (r.errors ? Object.keys(r.errors).map(function (k) { return k + ": " + r.errors[k]; }).join("; ") : "not saved");
        throw new Error(msg);
      }
      var w = f.closest(".widget");
      UI.toast("Saved", "ok");
      delete f.dataset.dirty;
      w.dataset.quietUntil = String(Date.now() + 5000);
      if (grid && grid.pollNow) grid.pollNow(); // other widgets of the plugin follow
      return loadWidget(w).then(function () {
        var s = w.querySelector(".form-status");
        if (s) { s.className = "form-status ok"; s.textContent = "Saved"; }
      });
    }).catch(function (e) {
      btn.disabled = false;
      status.className = "form-status error";
      status.textContent = e.message;
    });
  });

  // ---- MaidSDK host side (plugin iframes) ----
  var PROTO = "maid-sdk/1";
  var hostMethods = {
    "kv.get": 1, "kv.set": 1, "kv.delete": 1, "kv.list": 1, "kv.count": 1, "kv.get_many": 1, "kv.set_many": 1,
    "metrics.query": 1, "metrics.total": 1, "sql.query": 1, "sql.execute": 1
  };

  function setupFrame(frame) {
    var plugin = frame.dataset.plugin, server = frame.dataset.server, user = frame.dataset.user;
    var base = "/p/" + encodeURIComponent(plugin) + "/dashboard/";
    var q = "?discord_srv_id=" + encodeURIComponent(server);
    var entry = {
      send: function (msg) {
        msg.maid = PROTO;
        if (frame.contentWindow) frame.contentWindow.postMessage(msg, "*"); // opaque origin: "*" is the only target
      }
    };
    frames.push(entry);

    function answer(id, result, error) {
      entry.send(error ? { type: "error", id: id, error: error } : { type: "result", id: id, result: result });
    }

    function handleCall(m) {
      var method = typeof m.method === "string" ? m.method : "";
      var params = m.params && typeof m.params === "object" && !Array.isArray(m.params) ? m.params : {};
      var url;
      var dm = /^dashboard\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(method);
      if (dm) url = base + "rpc/" + dm[1] + q;
      else if (hostMethods[method]) url = base + "host/" + method + q;
      else {
        answer(m.id, null, { code: "capability", message: "MaidSDK: " + method + " is not allowed (namespaces: kv, metrics, sql, dashboard)" });
        return;
      }
      // The server comes from this page (checked against the session by
      // the server), never from the message.
      UI.fetchJSON(url, { method: "POST", body: JSON.stringify(params) }).then(function (r) {
        answer(m.id, r, null);
      }, function (e) {
        answer(m.id, null, { code: e.code || "error", message: e.message });
      });
    }

    window.addEventListener("message", function (ev) {
      if (ev.source !== frame.contentWindow) return; // only this plugin's iframe
      var m = ev.data;
      if (!m || typeof m !== "object" || m.maid !== PROTO) return;
      switch (m.type) {
        case "hello":
          entry.send({ type: "welcome", context: { discord_srv_id: server, plugin_id: plugin, user_id: user, theme: theme(), page: frame.dataset.page || "" } });
          break;
        case "call":
          if (typeof m.id === "number") handleCall(m);
          break;
        case "resize":
          var h = Number(m.height);
          if (h > 0) frame.style.height = Math.min(Math.max(h, 80), 5000) + "px";
          break;
        case "navigate":
          if (/^[A-Za-z0-9_-]{1,64}$/.test(String(m.page))) location.search = "?page=" + encodeURIComponent(m.page);
          break;
      }
    });
    var rt = null;
    window.addEventListener("resize", function () {
      clearTimeout(rt);
      rt = setTimeout(function () { entry.send({ type: "event", event: "resize", data: { width: frame.clientWidth } }); }, 150);
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("iframe.plugin-frame[data-plugin]"), setupFrame);

  // ---- logs: filters apply on change; "Follow live" polls the same
  // filtered lines (bounded server-side) and redraws when they change.
  var logs = document.getElementById("logs");
  var logsFilter = document.getElementById("logs-filter");
  if (logs && logsFilter) {
    Array.prototype.forEach.call(logsFilter.querySelectorAll("select"), function (sel) {
      sel.addEventListener("change", function () { logsFilter.submit(); });
    });
    var follow = document.getElementById("logs-follow");
    var lastKey = null;
    var draw = function (lines) {
      var atEnd = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 8;
      logs.textContent = "";
      lines.forEach(function (l) {
        var d = document.createElement("div");
        d.className = "line lvl-" + l.level;
        var t = document.createElement("span"); t.className = "t"; t.textContent = String(l.time).slice(0, 19).replace("T", " ");
        d.appendChild(t);
        [l.plugin_name, l.server_name].forEach(function (x) {
          if (!x) return;
          var g = document.createElement("span"); g.className = "tag"; g.textContent = x; d.appendChild(g);
        });
        var src = document.createElement("span"); src.className = "src"; src.textContent = "[" + l.source + "]";
        d.appendChild(src);
        d.appendChild(document.createTextNode(" " + l.text));
        if (l.recording && l.server) {
          // The failed event's recording, for maid replay --exact.
          var a = document.createElement("a"); a.className = "rec"; a.textContent = "recording";
          a.href = "/s/" + encodeURIComponent(l.server) + "/p/" + encodeURIComponent(l.plugin) + "/recordings/" + encodeURIComponent(l.recording);
          a.setAttribute("download", "");
          d.appendChild(document.createTextNode(" ")); d.appendChild(a);
        }
        logs.appendChild(d);
      });
      if (!lines.length) {
        var e = document.createElement("div"); e.className = "muted"; e.id = "logs-empty"; e.textContent = "No lines yet."; logs.appendChild(e);
      }
      if (atEnd) logs.scrollTop = logs.scrollHeight;
    };
    var pollLogs = function () {
      if (!follow.checked || document.hidden) return;
      UI.fetchJSON(logs.dataset.api).then(function (r) {
        var key = JSON.stringify(r.lines.map(function (l) { return [l.time, l.text, l.last || ""]; }));
        if (key === lastKey) return;
        if (lastKey !== null) draw(r.lines);
        lastKey = key;
        logs.dataset.polls = String(Number(logs.dataset.polls || 0) + 1);
      }).catch(function () { /* the next poll tries again */ });
    };
    logs.scrollTop = logs.scrollHeight;
    pollLogs();
    setInterval(pollLogs, 2000);
  }

  // ---- simulator ----
  var sim = document.getElementById("simulator");
  if (sim) {
    var sid = sim.dataset.server;
    var api = "/api/servers/" + encodeURIComponent(sid) + "/simulator";
    var chan = document.getElementById("sim-channel");
    var chat = document.getElementById("sim-chat");
    var acts = document.getElementById("sim-actions");
    var leaveSel = document.getElementById("sim-leave-member");
    var memberSel = document.getElementById("sim-member");
    var cmdSel = document.getElementById("sim-command");
    var cmdOpts = document.getElementById("sim-command-options");
    var lastKey = "", cmdKey = "", commands = [], editing = null;
    var store = function (k, v) { try { if (v === undefined) return localStorage.getItem(k); localStorage.setItem(k, v); } catch (e) { return null; } return null; };
    // "Post as" and the channel stay chosen across reloads.
    var saved = store("maid-sim-member");
    if (saved) memberSel.value = saved;
    var savedChan = store("maid-sim-channel");
    if (savedChan && Array.prototype.some.call(chan.options, function (o) { return o.value === savedChan; })) chan.value = savedChan;
    memberSel.addEventListener("change", function () { store("maid-sim-member", memberSel.value); lastKey = ""; refresh(); });

    var post = function (path, body) {
      body.channel_id = chan.value;
      body.member_id = memberSel.value;
      return UI.fetchJSON(api + "/" + path, { method: "POST", body: JSON.stringify(body) })
        .then(function () { setTimeout(refresh, 300); }, function (e) { UI.toast(e.message, "error"); throw e; });
    };

    var drawCommands = function () {
      var keep = cmdSel.value;
      cmdSel.textContent = "";
      commands.forEach(function (c) { cmdSel.appendChild(new Option("/" + c.name + (c.description ? " — " + c.description : ""), c.name)); });
      if (!commands.length) cmdSel.appendChild(new Option("No plugin declares a slash command", ""));
      if (keep) cmdSel.value = keep;
      drawOptions();
    };
    var drawOptions = function () {
      cmdOpts.textContent = "";
      var c = commands.filter(function (x) { return x.name === cmdSel.value; })[0];
      if (!c) return;
      (c.options || []).forEach(function (o) {
        var f = document.createElement("label");
        f.className = "sim-opt";
        f.textContent = o.name + (o.required ? " *" : "") + " ";
        var input;
        if (o.type === "boolean") {
          input = document.createElement("select");
          ["", "true", "false"].forEach(function (v) { input.appendChild(new Option(v || "—", v)); });
        } else if (o.type === "channel") {
          input = document.createElement("select");
          input.appendChild(new Option("—", ""));
          Array.prototype.forEach.call(chan.options, function (op) { input.appendChild(new Option(op.text, op.value)); });
        } else if (o.type === "user" || o.type === "mentionable") {
          input = document.createElement("select");
          input.appendChild(new Option("—", ""));
          Array.prototype.forEach.call(leaveSel.options, function (op) { input.appendChild(new Option(op.text, op.value)); });
        } else {
          input = document.createElement("input");
          input.type = o.type === "integer" || o.type === "number" ? "number" : "text";
          if (o.type === "number") input.step = "any";
          input.placeholder = o.description || o.type;
        }
        input.name = o.name;
        input.required = !!o.required;
        input.dataset.option = o.name;
        f.appendChild(input);
        cmdOpts.appendChild(f);
      });
    };
    cmdSel.addEventListener("change", drawOptions);

    var refresh = function () {
      return UI.fetchJSON(api + "?channel_id=" + encodeURIComponent(chan.value || "")).then(function (st) {
        var ck = JSON.stringify(st.commands);
        if (ck !== cmdKey) { cmdKey = ck; commands = st.commands; drawCommands(); }
        var key = JSON.stringify([st.messages.map(function (m) { return [m.id, m.content, m.reactions || []]; }), st.actions.length && st.actions[st.actions.length - 1], st.actions.length, st.members.length, memberSel.value]);
        if (key === lastKey || editing) return;
        lastKey = key;
        chat.textContent = "";
        var names = {};
        st.members.forEach(function (m) { names[m.id] = m.name; });
        var mentions = function (text) {
          return String(text).replace(/<@!?(\d+)>/g, function (all, id) { return names[id] ? "@" + names[id] : all; });
        };
        st.messages.forEach(function (m) {
          var d = document.createElement("div");
          d.className = "msg" + (m.bot ? " bot" : "");
          d.dataset.id = m.id;
          var t = document.createElement("span"); t.className = "time"; t.textContent = (m.time || "").slice(11, 19);
          var a = document.createElement("span"); a.className = "author"; a.textContent = m.author + (m.bot ? " [bot]" : "");
          var c = document.createElement("span"); c.className = "content"; c.textContent = mentions(m.content);
          d.append(t, a, c);
          if (m.edited) { var e = document.createElement("span"); e.className = "edited"; e.textContent = " (edited)"; d.appendChild(e); }
          var tools = document.createElement("span");
          tools.className = "msg-tools";
          ["👍", "❤️"].forEach(function (emoji) {
            var b = document.createElement("button"); b.type = "button"; b.className = "btn btn-small"; b.textContent = "+" + emoji;
            b.title = "React with " + emoji; b.dataset.react = emoji; tools.appendChild(b);
          });
          if (m.author_id === memberSel.value) {
            var eb = document.createElement("button"); eb.type = "button"; eb.className = "btn btn-small"; eb.textContent = "Edit"; eb.dataset.edit = "1"; tools.appendChild(eb);
            var db = document.createElement("button"); db.type = "button"; db.className = "btn btn-small btn-danger"; db.textContent = "Delete"; db.dataset.del = "1"; tools.appendChild(db);
          }
          d.appendChild(tools);
          if (m.reactions && m.reactions.length) {
            var rs = document.createElement("div"); rs.className = "reactions";
            m.reactions.forEach(function (r) {
              var chip = document.createElement("button"); chip.type = "button"; chip.className = "reaction"; chip.dataset.react = r.emoji;
              chip.textContent = r.emoji + " " + r.count; chip.title = "Add (or, with Shift, remove) your " + r.emoji;
              rs.appendChild(chip);
            });
            d.appendChild(rs);
          }
          chat.appendChild(d);
        });
        if (!st.messages.length) chat.innerHTML = '<span class="muted">No messages in this channel yet.</span>';
        chat.scrollTop = chat.scrollHeight;
        acts.textContent = "";
        st.actions.forEach(function (line) {
          var d = document.createElement("div"); d.textContent = line; acts.appendChild(d);
        });
        if (!st.actions.length) acts.innerHTML = '<span class="muted">None yet.</span>';
        acts.scrollTop = acts.scrollHeight;
        var keepPost = memberSel.value, keepLeave = leaveSel.value;
        memberSel.textContent = ""; leaveSel.textContent = "";
        st.members.forEach(function (m) {
          if (m.bot) return;
          memberSel.appendChild(new Option(m.name, m.id));
          leaveSel.appendChild(new Option(m.name, m.id));
        });
        if (keepPost) memberSel.value = keepPost;
        if (!memberSel.value && memberSel.options.length) memberSel.selectedIndex = 0;
        if (keepLeave) leaveSel.value = keepLeave;
      }).catch(function (e) { UI.toast(e.message, "error"); });
    };
    chat.addEventListener("click", function (ev) {
      var b = ev.target.closest && ev.target.closest("button");
      if (!b) return;
      var msg = b.closest(".msg");
      if (!msg) return;
      if (b.dataset.react) {
        post("react", { message_id: msg.dataset.id, emoji: b.dataset.react, remove: !!ev.shiftKey }).catch(function () {});
      } else if (b.dataset.del) {
        UI.confirm("Delete this message?", { ok: "Delete", danger: true }).then(function (yes) {
          if (yes) post("delete", { message_id: msg.dataset.id }).catch(function () {});
        });
      } else if (b.dataset.edit) {
        var content = msg.querySelector(".content");
        var form = document.createElement("form"); form.className = "edit-form row";
        var input = document.createElement("input"); input.type = "text"; input.value = content.textContent; input.name = "content";
        var save = document.createElement("button"); save.className = "btn btn-small btn-primary"; save.type = "submit"; save.textContent = "Save";
        form.append(input, save);
        content.replaceWith(form);
        editing = msg.dataset.id;
        input.focus();
        form.addEventListener("submit", function (e2) {
          e2.preventDefault();
          post("edit", { message_id: msg.dataset.id, content: input.value }).then(function () { editing = null; lastKey = ""; }, function () { editing = null; lastKey = ""; refresh(); });
        });
      }
    });
    chan.addEventListener("change", function () { store("maid-sim-channel", chan.value); lastKey = ""; refresh(); });
    document.getElementById("sim-post").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var input = document.getElementById("sim-content");
      if (!input.value.trim()) return;
      post("post", { content: input.value }).then(function () { input.value = ""; }, function () {});
    });
    document.getElementById("sim-command-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!cmdSel.value) return;
      var values = {};
      Array.prototype.forEach.call(cmdOpts.querySelectorAll("[data-option]"), function (i) { if (i.value !== "") values[i.dataset.option] = i.value; });
      post("command", { name: cmdSel.value, options: values }).then(function () {
        Array.prototype.forEach.call(cmdOpts.querySelectorAll("input"), function (i) { i.value = ""; });
      }, function () {});
    });
    document.getElementById("sim-join").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var input = document.getElementById("sim-join-name");
      if (!input.value.trim()) return;
      UI.fetchJSON(api + "/join", { method: "POST", body: JSON.stringify({ name: input.value }) })
        .then(function (r) { input.value = ""; UI.toast(r.member.name + " joined", "ok"); setTimeout(refresh, 300); }, function (e) { UI.toast(e.message, "error"); });
    });
    document.getElementById("sim-leave").addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!leaveSel.value) return;
      UI.fetchJSON(api + "/leave", { method: "POST", body: JSON.stringify({ member_id: leaveSel.value }) })
        .then(function () { setTimeout(refresh, 300); }, function (e) { UI.toast(e.message, "error"); });
    });
    refresh();
    setInterval(function () { if (!document.hidden) refresh(); }, 1500);
  }
})();
