/* Offline (离线可用): registers the service worker (/sw.js), and queues check-in and check-out
   pressed with no network on the phone (IndexedDB), each with its Idempotency-Key and the phone's
   time, then sends them to the API when the network returns. Shows what is waiting to be sent
   (待发送) at the top of every page. Also fills the check-in form's place (lat, lng) when the
   phone will tell it. No inline script: the pages' policy forbids it. */
(function () {
  "use strict";
  var DB = "linli", STORE = "outbox", PAGES = "linli-pages";
  var ACTION = /^\/claims\/([^/]+)\/(check-in|check-out)$/;
  var NAMES = { "check-in": "报到", "check-out": "签退" };
  var sending = false;
  var retry = null, pause = 1000;  // a send that failed is tried again, waiting longer each time

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
  }

  function open() {
    return new Promise(function (resolve, reject) {
      var asked = indexedDB.open(DB, 1);
      asked.onupgradeneeded = function () { asked.result.createObjectStore(STORE, { keyPath: "key" }); };
      asked.onsuccess = function () { resolve(asked.result); };
      asked.onerror = function () { reject(asked.error); };
    });
  }

  function store(mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var result = work(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(result && result.result); };
        tx.onerror = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function waiting() {
    return store("readonly", function (s) { return s.getAll(); }).then(function (items) {
      return (items || []).sort(function (a, b) { return a.seq - b.seq; });
    });
  }

  function newKey() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);  // crypto.randomUUID needs a secure context; this does not
    return "offline-" + Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function cookie(name) {
    var found = document.cookie.split("; ").filter(function (c) { return c.indexOf(name + "=") === 0; })[0];
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  function shown(iso) {
    var d = new Date(iso);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  /* ---- 待发送: what the phone holds, at the top of the page ---- */
  function panel() {
    var box = document.getElementById("outbox");
    if (!box) {
      box = document.createElement("section");
      box.id = "outbox";
      box.className = "box outbox";
      box.setAttribute("aria-live", "polite");
      box.hidden = true;
      var main = document.getElementById("main");
      if (!main) return null;
      main.insertBefore(box, main.firstChild);
    }
    return box;
  }

  function say(text, kind) {
    var box = panel();
    if (!box) return;
    var p = document.createElement("p");
    p.className = "flash " + (kind || "ok");
    p.setAttribute("role", kind === "error" ? "alert" : "status");
    p.textContent = text;
    box.parentNode.insertBefore(p, box.nextSibling);
  }

  function draw() {
    var box = panel();
    if (!box) return Promise.resolve();
    return waiting().then(function (items) {
      box.textContent = "";
      box.hidden = items.length === 0;
      if (!items.length) return;
      var h = document.createElement("h2");
      h.textContent = "待发送（" + items.length + "）";
      box.appendChild(h);
      var list = document.createElement("ul");
      list.setAttribute("data-testid", "outbox");
      items.forEach(function (item) {
        var li = document.createElement("li");
        li.textContent = NAMES[item.kind] + " · " + item.title + " · 手机时间 " + shown(item.body.offline_at);
        list.appendChild(li);
      });
      box.appendChild(list);
      var hint = document.createElement("p");
      hint.className = "hint";
      hint.textContent = navigator.onLine ? "正在发送…" : "网络不通，联网后自动发送（请勿删除浏览器数据）";
      box.appendChild(hint);
    }).catch(function () {});
  }

  /* ---- queue: a check-in or check-out pressed offline ---- */
  function queue(form, kind, claimId) {
    var where = form.closest("[data-community]");
    if (!where) return false;
    var fields = new FormData(form);
    var body = { offline_at: new Date().toISOString() };
    if (kind === "check-in") {
      ["code", "token"].forEach(function (name) {
        var value = (fields.get(name) || "").trim();
        if (value) body[name] = value;
      });
      var lat = fields.get("lat"), lng = fields.get("lng");
      if (lat && lng) body.location = { lat: Number(lat), lng: Number(lng) };
      if (!body.code && !body.token) {
        say("请填写居民的确认码，或扫码报到", "error");
        return true;
      }
    }
    var item = {
      key: newKey(),
      seq: Date.now(),
      kind: kind,
      title: where.getAttribute("data-title") || "",
      url: "/api/v1/communities/" + encodeURIComponent(where.getAttribute("data-community")) +
        "/claims/" + encodeURIComponent(claimId) + "/" + kind,
      body: body
    };
    store("readwrite", function (s) { return s.put(item); }).then(function () {
      say("网络不通：" + NAMES[kind] + "已保存在手机上（手机时间 " + shown(body.offline_at) + "），联网后自动发送");
      return draw();
    }).then(flush);
    return true;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var path = new URL(form.action, location.href).pathname;
    var matched = ACTION.exec(path);
    if (!matched || navigator.onLine) return;
    event.preventDefault();
    event.stopImmediatePropagation();  // before htmx sends it into a network that is not there
    var question = form.getAttribute("hx-confirm");
    if (question && !window.confirm(question)) return;
    queue(form, matched[2], decodeURIComponent(matched[1]));
  }, true);

  // The phone says it is online but the request never got an answer (a Wi-Fi with no way to the
  // service): the same, once htmx gives up. Had it arrived after all, the queued one is refused
  // (already checked in) and says so; it never acts twice.
  document.addEventListener("htmx:sendError", function (event) {
    var form = event.detail && event.detail.elt;
    if (!form || form.tagName !== "FORM") return;
    var matched = ACTION.exec(new URL(form.action, location.href).pathname);
    if (matched) queue(form, matched[2], decodeURIComponent(matched[1]));
  });

  /* ---- send: when the network returns, oldest first ---- */
  function send(item) {
    return fetch(item.url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Idempotency-Key": item.key,
        "X-CSRFToken": cookie("linli_csrf")
      },
      body: JSON.stringify(item.body)
    }).then(function (answer) {
      if (answer.ok) return { done: true, text: NAMES[item.kind] + "已发送：" + item.title };
      if (answer.status === 401 || answer.status === 429 || answer.status >= 500 ||
          (answer.status === 409 && answer.headers.get("Retry-After"))) {
        return { done: false };  // later: signed out, busy, or the same key still in flight
      }
      return answer.json().catch(function () { return {}; }).then(function (problem) {
        return { done: true, error: true, text: NAMES[item.kind] + "未成功（" + item.title + "）：" + (problem.detail || answer.status) };
      });
    }, function () { return { done: false }; });
  }

  function flush() {
    if (sending || !navigator.onLine) return Promise.resolve();
    sending = true;
    var changed = "";
    return waiting().then(function (items) {
      return items.reduce(function (chain, item) {
        return chain.then(function (go) {
          if (!go) return false;
          return send(item).then(function (result) {
            if (!result.done) return false;  // keep the order: stop at the first not sent
            changed = (result.error ? "error:" : "ok:") + result.text;
            say(result.text, result.error ? "error" : "ok");
            return store("readwrite", function (s) { return s.delete(item.key); }).then(function () { return true; });
          });
        });
      }, Promise.resolve(true));
    }).catch(function () {}).then(function () {
      sending = false;
      return draw();
    }).then(function () {
      return waiting().then(function (left) {
        clearTimeout(retry);
        if (!left.length) { pause = 1000; return; }
        retry = setTimeout(flush, pause);
        pause = Math.min(pause * 2, 60000);
      }).catch(function () {});
    }).then(function () {
      if (changed) document.dispatchEvent(new CustomEvent("linli:sent", { detail: changed }));
    });
  }

  /* ---- the place, for the community's distance rule (only if the phone will tell it) ---- */
  function place(root) {
    var form = root.querySelector && root.querySelector("form[action$='/check-in']");
    if (!form || form.querySelector("input[name='lat']") || !navigator.geolocation) return;
    navigator.geolocation.getCurrentPosition(function (at) {
      [["lat", at.coords.latitude], ["lng", at.coords.longitude]].forEach(function (pair) {
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = pair[0];
        input.value = pair[1].toFixed(6);
        form.appendChild(input);
      });
    }, function () {}, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }

  /* ---- keep the pages of current claims for offline use (the worker stores them) ---- */
  function keep(root) {
    var links = root.querySelectorAll ? root.querySelectorAll("a[data-keep]") : [];
    if (!navigator.onLine) return;
    Array.prototype.forEach.call(links, function (a) {
      fetch(a.getAttribute("href"), { credentials: "same-origin" }).catch(function () {});
    });
  }

  function start(root) {
    if (location.pathname === "/login" && window.caches) caches.delete(PAGES);  // signed out
    place(root);
    keep(root);
    draw();
    flush();
  }

  window.addEventListener("online", function () { pause = 1000; draw(); flush(); });
  window.addEventListener("offline", draw);
  document.addEventListener("linli:sent", function (event) {
    if (!document.querySelector("[data-community]")) return;
    // the claim's page again, as it is now, with what was sent as its message (the flash cookie)
    document.cookie = "linli_flash=" + encodeURIComponent(event.detail) + "; path=/; max-age=60; samesite=lax";
    location.reload();
  });
  document.addEventListener("htmx:afterSettle", function () { start(document); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { start(document); });
  } else {
    start(document);
  }
  window.linliOutbox = { flush: flush, waiting: waiting };
})();
