/* The service worker (served as /sw.js, scope "/"): the shell and the volunteer's current claims
   offline. The shell (styles, scripts, the offline page, the manifest and icon) is kept on
   install and refreshed whenever it is fetched. The pages of "我的认领" (/claims) and of each wish
   (/wishes/ID) go to the network first and are kept as they come back, so the last copy opens
   when the network is gone; any other page offline shows /offline. Nothing but GET is ever
   answered from here: check-in and check-out pressed offline are queued by offline.js. */
"use strict";
var VERSION = "linli-shell-v1";
var PAGES = "linli-pages";
var SHELL = [
  "/offline",
  "/static/linli.css",
  "/static/offline.js",
  "/static/scan.js",
  "/static/icon.svg",
  "/static/vendor/htmx-2.0.11/htmx.min.js",
  "/static/vendor/jsqr-1.4.0/jsQR.js",
  "/manifest.webmanifest"
];
var KEPT = /^\/(claims|wishes\/[^/]+)$/;

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(VERSION).then(function (cache) {
    return cache.addAll(SHELL);
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name !== VERSION && name !== PAGES;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

function shell(request) {
  // the network first, so a new release's files are seen at once; the kept copy offline
  return fetch(request).then(function (answer) {
    if (answer.ok) {
      var copy = answer.clone();
      caches.open(VERSION).then(function (cache) { return cache.put(request, copy); });
    }
    return answer;
  }, function () {
    return caches.match(request, { cacheName: VERSION, ignoreSearch: true }).then(function (found) {
      return found || Response.error();
    });
  });
}

function page(request, url) {
  var key = url.origin + url.pathname;
  return fetch(request).then(function (answer) {
    var html = (answer.headers.get("Content-Type") || "").indexOf("text/html") === 0;
    if (answer.ok && html && !answer.redirected && KEPT.test(url.pathname)) {
      var copy = answer.clone();
      caches.open(PAGES).then(function (cache) { return cache.put(key, copy); });
    }
    return answer;
  }, function () {
    return caches.match(key, { cacheName: PAGES }).then(function (kept) {
      return kept || caches.match("/offline", { cacheName: VERSION });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.indexOf("/api/") === 0) return;
  if (url.pathname.indexOf("/static/") === 0 || url.pathname === "/manifest.webmanifest") {
    event.respondWith(shell(request));
    return;
  }
  var accept = request.headers.get("Accept") || "";
  if (request.mode === "navigate" || request.headers.get("HX-Request") || accept.indexOf("text/html") >= 0 ||
      KEPT.test(url.pathname)) {
    event.respondWith(page(request, url));
  }
});
