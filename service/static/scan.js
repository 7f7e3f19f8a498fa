/* 扫码报到: on the volunteer's check-in form, a button that opens the phone's camera and reads the
   QR code on the resident's page (jsQR, vendored, loaded on first use). The code read is put in
   the form's "token" field and the form is sent as if 报到 were pressed (offline, offline.js
   queues it). The 6-digit code stays as the fallback. */
(function () {
  "use strict";
  var DECODER = "/static/vendor/jsqr-1.4.0/jsQR.js";
  var TOKEN = /^[A-Za-z0-9._:@-]+~[A-Za-z0-9._:@-]+~\d+~[0-9a-f]{32}$/;

  function decoder() {
    if (window.jsQR) return Promise.resolve(window.jsQR);
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = DECODER;
      script.onload = function () { resolve(window.jsQR); };
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  function note(form, text) {
    var p = form.querySelector(".scan-note");
    p.textContent = text;
    p.hidden = !text;
  }

  function scan(form, button) {
    var media = navigator.mediaDevices;
    if (!media || !media.getUserMedia) {
      note(form, "这台手机的浏览器不能扫码，请输入居民的确认码");
      return;
    }
    var video = form.querySelector("video.scan-view");
    var canvas = document.createElement("canvas");
    var stream = null, stopped = false;
    function stop() {
      stopped = true;
      if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
      video.hidden = true;
      button.textContent = "扫码报到";
      button.onclick = function () { scan(form, button); };
    }
    button.textContent = "取消扫码";
    button.onclick = function () { stop(); note(form, ""); };
    note(form, "请对准居民手机上的报到二维码");
    Promise.all([decoder(), media.getUserMedia({ video: { facingMode: "environment" }, audio: false })])
      .then(function (got) {
        var read = got[0];
        stream = got[1];
        if (stopped) { stop(); return; }
        video.srcObject = stream;
        video.hidden = false;
        video.play().catch(function () {});
        function look() {
          if (stopped) return;
          if (video.readyState >= 2 && video.videoWidth) {
            canvas.width = video.videoWidth;
            canvas.height = video.videoHeight;
            var ctx = canvas.getContext("2d", { willReadFrequently: true });
            ctx.drawImage(video, 0, 0);
            var image = ctx.getImageData(0, 0, canvas.width, canvas.height);
            var found = read(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
            if (found && TOKEN.test(found.data)) {
              stop();
              form.querySelector("input[name='token']").value = found.data;
              note(form, "已扫到报到二维码");
              form.requestSubmit();
              return;
            }
          }
          setTimeout(look, 200);
        }
        look();
      }, function () {
        stop();
        note(form, "无法打开摄像头，请允许使用摄像头，或输入居民的确认码");
      });
  }

  function arm(root) {
    var form = root.querySelector("[data-community] form[action$='/check-in']");
    if (!form || form.querySelector(".scan")) return;
    var token = document.createElement("input");
    token.type = "hidden";
    token.name = "token";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "btn scan wide";
    button.textContent = "扫码报到";
    button.onclick = function () { scan(form, button); };
    var video = document.createElement("video");
    video.className = "scan-view";
    video.hidden = true;
    video.muted = true;
    video.setAttribute("playsinline", "");
    video.setAttribute("aria-label", "摄像头画面");
    var p = document.createElement("p");
    p.className = "hint scan-note";
    p.setAttribute("role", "status");
    p.hidden = true;
    form.insertBefore(token, form.firstChild);
    form.insertBefore(p, form.firstChild);
    form.insertBefore(video, form.firstChild);
    form.insertBefore(button, form.firstChild);
  }

  document.addEventListener("htmx:afterSettle", function () { arm(document); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { arm(document); });
  } else {
    arm(document);
  }
})();
