// Each probe records what happened; the results go to KV (through the
// bridge) so the Go test can read them without reaching into this frame.
function attempt(fn) {
  try { var v = fn(); return "allowed:" + String(v).slice(0, 40); } catch (e) { return "blocked:" + e.name; }
}
function rawCall(method, params, extra) {
  // A hand-made bridge message, as a hostile plugin would send it.
  return new Promise(function (resolve) {
    var id = 900000 + Math.floor(Math.random() * 1000);
    function on(ev) {
      var m = ev.data;
      if (ev.source !== window.parent || !m || m.id !== id) return;
      window.removeEventListener("message", on);
      resolve(m.type === "error" ? "error:" + m.error.code : "ok:" + JSON.stringify(m.result));
    }
    window.addEventListener("message", on);
    var msg = Object.assign({ maid: "maid-sdk/1", type: "call", id: id, method: method, params: params }, extra || {});
    window.parent.postMessage(msg, "*");
    setTimeout(function () { resolve("no answer"); }, 5000);
  });
}
MaidSDK.ready(async function (ctx) {
  var r = {};
  r.context = MaidSDK.getContext();
  r.cookie = attempt(function () { return document.cookie; });
  r.parent_dom = attempt(function () { return window.parent.document.title; });
  r.parent_cookie = attempt(function () { return window.parent.document.cookie; });
  r.top_location = attempt(function () { return window.top.location.href; });
  r.storage = attempt(function () { return window.localStorage.length; });
  try { await fetch("/api/servers"); r.fetch = "allowed"; } catch (e) { r.fetch = "blocked:" + e.name; }
  r.discord_ns = await rawCall("discord.send_message", { channel_id: "1", content: "hi" });
  r.plugin_ns = await rawCall("plugin.shutdown", {});
  r.metrics_inc = await rawCall("metrics.increment", { name: "x" });
  r.sql_nocap = await rawCall("sql.query", { sql: "select 1" });
  r.other_server_kv = await rawCall("kv.set", { key: "intruder", value: 1, discord_srv_id: "200000000000000002" },
    { discord_srv_id: "200000000000000002", server: "200000000000000002" });
  r.other_server_rpc = await MaidSDK.rpc("whoami", { discord_srv_id: "200000000000000002" });
  r.total = await MaidSDK.metrics.total("messages_sent", "30d");
  await MaidSDK.kv.set("probe", r);
  document.getElementById("out").textContent = JSON.stringify(r, null, 1);
  MaidSDK.resize();
});
MaidSDK.on("theme", function (t) {
  document.getElementById("theme").textContent = "theme: " + t;
  MaidSDK.kv.set("theme_seen", t);
});
