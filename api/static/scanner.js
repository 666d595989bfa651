// A QR scanner on the phone's camera with the vendored jsQR (loaded only when scanning).
// PBScanner.start(video, prefix, onCode, onFail) scans until a code starting with
// `prefix` is read, then stops the camera and calls onCode(text); it returns stop().
"use strict";

var PBScanner = (function () {
  var SCAN_INTERVAL_MS = 250;
  var DECODER_URL = "/static/vendor/jsqr/jsQR.js";

  function loadDecoder() {
    if (window.jsQR) return Promise.resolve(window.jsQR);
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = DECODER_URL;
      script.onload = function () { resolve(window.jsQR); };
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  function start(video, prefix, onCode, onFail) {
    var stream = null, timer = null, stopped = false;
    var canvas = document.createElement("canvas");

    function stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = null;
      if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
    }

    function frame(decode) {
      if (stopped || video.readyState < 2 || !video.videoWidth) return;
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      var context = canvas.getContext("2d");
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      var image = context.getImageData(0, 0, canvas.width, canvas.height);
      var found = decode(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
      if (!found || found.data.indexOf(prefix) !== 0) return;
      stop();
      onCode(found.data);
    }

    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      onFail();
      return stop;
    }
    Promise.all([loadDecoder(),
                 navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })])
      .then(function (ready) {
        stream = ready[1];
        if (stopped) return stop();
        video.srcObject = stream;
        video.play();
        timer = setInterval(function () { frame(ready[0]); }, SCAN_INTERVAL_MS);
      }, function () { stop(); onFail(); });
    return stop;
  }

  return { start: start };
})();
