// MaidSDK: the bridge between a plugin's sandboxed dashboard iframe and the
// maid dashboard (spec 000 "MaidSDK JS API"). Every call is a Promise over
// postMessage; the dashboard page answers only its own plugin iframe, allows
// only the kv, metrics, sql and dashboard namespaces, and scopes every call
// to the signed-in user's current server.
(function () {
  "use strict";
  if (window.MaidSDK) return;

  var PROTO = "maid-sdk/1";
  var host = window.parent;
  var context = null;
  var readyFns = [];
  var pending = {};
  var nextID = 1;
  var listeners = {};
  var helloTimer = null;

  function post(msg) {
    msg.maid = PROTO;
    // The receiver is the dashboard that framed us (frame-ancestors 'self');
    // an opaque-origin document cannot name a target origin.
    host.postMessage(msg, "*");
  }

  function emit(event, data) {
    (listeners[event] || []).slice().forEach(function (fn) {
      try { fn(data); } catch (e) { setTimeout(function () { throw e; }); }
    });
  }

  function applyTheme(theme) {
    if (theme === "light" || theme === "dark") document.documentElement.setAttribute("data-theme", theme);
  }

  window.addEventListener("message", function (ev) {
    if (ev.source !== host || host === window) return; // only the dashboard speaks to us
    var m = ev.data;
    if (!m || typeof m !== "object" || m.maid !== PROTO) return;
    if (m.type === "welcome" && !context) {
      clearInterval(helloTimer);
      context = Object.freeze({
        discord_srv_id: String(m.context.discord_srv_id || ""),
        plugin_id: String(m.context.plugin_id || ""),
        user_id: String(m.context.user_id || ""),
        theme: m.context.theme === "light" ? "light" : "dark",
        page: String(m.context.page || "")
      });
      applyTheme(context.theme);
      var fns = readyFns;
      readyFns = [];
      fns.forEach(run);
      autoResize();
    } else if (m.type === "result" || m.type === "error") {
      var p = pending[m.id];
      if (!p) return;
      delete pending[m.id];
      clearTimeout(p.timer);
      if (m.type === "result") p.resolve(m.result);
      else {
        var err = new Error((m.error && m.error.message) || "call failed");
        err.code = (m.error && m.error.code) || "error";
        p.reject(err);
      }
    } else if (m.type === "event") {
      if (m.event === "theme" && context) {
        context = Object.freeze(Object.assign({}, context, { theme: m.data === "light" ? "light" : "dark" }));
        applyTheme(context.theme);
      }
      emit(String(m.event), m.data);
    }
  });

  function run(fn) {
    try {
      var r = fn(context);
      if (r && typeof r.catch === "function") r.catch(function (e) { console.error("MaidSDK.ready callback failed:", e); });
    } catch (e) {
      console.error("MaidSDK.ready callback failed:", e);
    }
  }

  function call(method, params) {
    return new Promise(function (resolve, reject) {
      if (!context) { reject(new Error("MaidSDK is not ready: call it inside MaidSDK.ready(fn)")); return; }
      var id = nextID++;
      var timer = setTimeout(function () {
        delete pending[id];
        var e = new Error(method + " timed out");
        e.code = "timeout";
        reject(e);
      }, 30000);
      pending[id] = { resolve: resolve, reject: reject, timer: timer };
      post({ type: "call", id: id, method: method, params: params || {} });
    });
  }

  var lastHeight = 0;
  function contentHeight() {
    var d = document.documentElement, b = document.body;
    return Math.ceil(Math.max(d.scrollHeight, b ? b.scrollHeight : 0, d.offsetHeight));
  }
  function resize(height) {
    var h = typeof height === "number" && height > 0 ? Math.ceil(height) : contentHeight();
    lastHeight = h;
    post({ type: "resize", height: h });
    return Promise.resolve(h);
  }
  function autoResize() {
    resize();
    if (window.ResizeObserver && document.body) {
      new ResizeObserver(function () {
        var h = contentHeight();
        if (Math.abs(h - lastHeight) > 2) resize(h);
      }).observe(document.body);
    }
  }

  function sqlRows(r) {
    var cols = (r && r.columns) || [];
    return ((r && r.rows) || []).map(function (row) {
      var o = {};
      cols.forEach(function (c, i) { o[c] = row[i]; });
      return o;
    });
  }

  window.MaidSDK = {
    __iframe: true,
    ready: function (fn) {
      if (typeof fn !== "function") return Promise.reject(new Error("MaidSDK.ready needs a function"));
      if (context) setTimeout(function () { run(fn); });
      else readyFns.push(fn);
      return Promise.resolve();
    },
    getContext: function () { return context ? Object.assign({}, context) : null; },
    getTheme: function () { return context ? context.theme : (document.documentElement.getAttribute("data-theme") || "dark"); },
    on: function (event, fn) { (listeners[event] = listeners[event] || []).push(fn); },
    off: function (event, fn) {
      var l = listeners[event] || [];
      var i = l.indexOf(fn);
      if (i >= 0) l.splice(i, 1);
    },
    resize: resize,
    navigateTo: function (pageId) { post({ type: "navigate", page: String(pageId) }); return Promise.resolve(); },
    rpc: function (method, params) { return call("dashboard." + String(method).replace(/^dashboard\./, ""), params); },
    kv: {
      get: function (key) { return call("kv.get", { key: key }).then(function (r) { return r && r.found ? r.value : null; }); },
      set: function (key, value) { return call("kv.set", { key: key, value: value }).then(function () { return true; }); },
      "delete": function (key) { return call("kv.delete", { key: key }).then(function (r) { return !!(r && r.deleted); }); },
      list: function (prefix, limit) {
        var p = { prefix: prefix || "" };
        if (limit) p.limit = limit;
        return call("kv.list", p).then(function (r) { return (r && r.keys) || []; });
      },
      getMany: function (keys) { return call("kv.get_many", { keys: keys }).then(function (r) { return (r && r.values) || {}; }); },
      setMany: function (values) { return call("kv.set_many", { values: values }).then(function () { return true; }); }
    },
    metrics: {
      query: function (name, period) { return call("metrics.query", { name: name, period: period || "7d" }); },
      total: function (name, period) { return call("metrics.total", { name: name, period: period || "30d" }).then(function (r) { return r ? r.total : 0; }); }
    },
    sql: {
      query: function (sql, params) { return call("sql.query", { sql: sql, params: params || [] }).then(sqlRows); },
      execute: function (sql, params) { return call("sql.execute", { sql: sql, params: params || [] }); }
    }
  };

  if (host && host !== window) {
    document.documentElement.classList.add("maid-frame");
    // Handshake: say hello until the dashboard answers (it may still be
    // loading its own script).
    var tries = 0;
    var hello = function () {
      if (context || ++tries > 100) { clearInterval(helloTimer); return; }
      post({ type: "hello" });
    };
    helloTimer = setInterval(hello, 100);
    hello();
  }
})();
