// maid style pack v1: window.MaidUI (spec 000). Works in the dashboard and
// inside sandboxed plugin iframes; needs nothing else.
(function () {
  "use strict";
  if (window.MaidUI) return;

  function toastHost() {
    var h = document.querySelector(".maid-toasts");
    if (!h) {
      h = document.createElement("div");
      h.className = "maid-toasts";
      h.setAttribute("role", "status");
      h.setAttribute("aria-live", "polite");
      document.body.appendChild(h);
    }
    return h;
  }

  // toast shows a short message; kind is ok, warn, error or info.
  function toast(msg, kind) {
    var el = document.createElement("div");
    el.className = "maid-toast " + (/^(ok|warn|error|info)$/.test(kind || "") ? kind : "info");
    el.textContent = String(msg);
    toastHost().appendChild(el);
    setTimeout(function () { el.remove(); }, 3500);
    return el;
  }

  // confirm asks a yes/no question in a themed modal: Promise<boolean>.
  // opts.ok names the action ("Uninstall"; default "OK"); opts.danger
  // shows it as destructive (red).
  function confirm(text, opts) {
    opts = opts || {};
    return new Promise(function (resolve) {
      var back = document.createElement("div");
      back.className = "maid-modal-back";
      var box = document.createElement("div");
      box.className = "maid-modal";
      box.setAttribute("role", "dialog");
      box.setAttribute("aria-modal", "true");
      var p = document.createElement("p");
      p.textContent = String(text);
      var row = document.createElement("div");
      row.className = "maid-row";
      var no = document.createElement("button");
      no.className = "maid-btn";
      no.textContent = "Cancel";
      var yes = document.createElement("button");
      yes.className = "maid-btn " + (opts.danger ? "maid-btn-danger-solid" : "maid-btn-primary");
      yes.textContent = opts.ok ? String(opts.ok) : "OK";
      row.append(no, yes);
      box.append(p, row);
      back.appendChild(box);
      function done(v) { back.remove(); document.removeEventListener("keydown", onKey); resolve(v); }
      function onKey(e) { if (e.key === "Escape") done(false); }
      no.addEventListener("click", function () { done(false); });
      yes.addEventListener("click", function () { done(true); });
      back.addEventListener("click", function (e) { if (e.target === back) done(false); });
      document.addEventListener("keydown", onKey);
      document.body.appendChild(back);
      (opts.danger ? no : yes).focus(); // Enter on a destructive question cancels
    });
  }

  function csrfToken() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }

  // pageServer is the server of the dashboard page (none inside a plugin
  // iframe): /p/ calls name it, rather than rely on a "current server" kept
  // in the session, which any page the user opens would change.
  function pageServer() {
    var m = document.querySelector('meta[name="maid-server"]');
    return m ? m.getAttribute("content") : "";
  }

  var rpcPath = /^\/p\/([A-Za-z0-9_-]+)\/dashboard\/rpc\/([A-Za-z_][A-Za-z0-9_]*)$/;

  // fetchJSON sends a request and resolves with the decoded JSON body; a
  // non-2xx answer rejects with an Error carrying .status and .code. Inside
  // a sandboxed plugin iframe (no cookies, no network) a dashboard RPC URL
  // goes through the MaidSDK bridge instead.
  function fetchJSON(url, opts) {
    opts = opts || {};
    var m = rpcPath.exec(String(url).split("?")[0]);
    if (m && window.MaidSDK && window.MaidSDK.__iframe) {
      var params = {};
      if (opts.body) params = typeof opts.body === "string" ? JSON.parse(opts.body) : opts.body;
      return window.MaidSDK.rpc(m[2], params);
    }
    var sid = pageServer();
    url = String(url);
    if (sid && /^\/p\//.test(url) && !/[?&]discord_srv_id=/.test(url)) {
      url += (url.indexOf("?") < 0 ? "?" : "&") + "discord_srv_id=" + encodeURIComponent(sid);
    }
    var headers = Object.assign({ "Accept": "application/json" }, opts.headers || {});
    var method = (opts.method || "GET").toUpperCase();
    if (opts.body && !headers["Content-Type"]) headers["Content-Type"] = "application/json";
    if (method !== "GET" && method !== "HEAD" && csrfToken()) headers["X-CSRF-Token"] = csrfToken();
    return fetch(url, Object.assign({}, opts, { method: method, headers: headers, credentials: "same-origin" })).then(function (r) {
      return r.text().then(function (t) {
        var body = null;
        try { body = t ? JSON.parse(t) : null; } catch (e) { body = null; }
        if (!r.ok) {
          var err = body && body.error ? body.error : { code: "http_" + r.status, message: t || r.statusText };
          var e = new Error(err.message);
          e.status = r.status;
          e.code = err.code;
          throw e;
        }
        return body;
      });
    });
  }

  // serializeForm turns a form into a plain object: checkboxes become
  // booleans, number inputs numbers (empty: null), multi-selects arrays.
  function serializeForm(form) {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.type === "submit" || el.type === "button" || el.type === "file") return;
      if (el.type === "checkbox") { out[el.name] = el.checked; return; }
      if (el.type === "radio") { if (el.checked) out[el.name] = el.value; return; }
      if (el.type === "number" || el.type === "range") { out[el.name] = el.value === "" ? null : Number(el.value); return; }
      if (el.tagName === "SELECT" && el.multiple) {
        out[el.name] = Array.prototype.filter.call(el.options, function (o) { return o.selected; }).map(function (o) { return o.value; });
        return;
      }
      out[el.name] = el.value;
    });
    return out;
  }

  // copy puts text on the clipboard: Promise<boolean>.
  function copy(text) {
    text = String(text);
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(function () { return true; }, function () { return fallbackCopy(text); });
    }
    return Promise.resolve(fallbackCopy(text));
  }
  function fallbackCopy(text) {
    var ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "fixed";
    ta.style.opacity = "0";
    document.body.appendChild(ta);
    ta.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    ta.remove();
    return ok;
  }

  window.MaidUI = { toast: toast, confirm: confirm, fetchJSON: fetchJSON, serializeForm: serializeForm, copy: copy };
})();
