// Sortie web pages: progressive enhancement only (every form works without it).
// No inline scripts anywhere (the CSP forbids them): pages pass data in data-* attributes.
(function () {
  "use strict";
  var lang = document.body ? document.body.dataset.lang : "en";
  var words = lang === "ru" ? { left: "осталось", expired: "срок истёк" } : { left: "left", expired: "expired" };

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var ms = Date.parse(el.dataset.deadline) - now;
      if (isNaN(ms)) return;
      if (ms <= 0) { el.textContent = words.expired; el.classList.add("expired"); return; }
      var s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
      var pad = function (n) { return (n < 10 ? "0" : "") + n; };
      el.textContent = (h > 0 ? h + ":" + pad(m) : m) + ":" + pad(s % 60) + " " + words.left;
    });
  }

  function maps() {
    if (!window.L) return;
    var tiles = document.body.dataset.tiles;
    document.querySelectorAll("div.map:not([data-ready])").forEach(function (el) {
      el.dataset.ready = "1";
      var points = [];
      try { points = JSON.parse(el.dataset.points || "[]"); } catch (e) { points = []; }
      var map = L.map(el, { attributionControl: !!tiles });
      if (tiles) L.tileLayer(tiles, { maxZoom: 19, attribution: el.dataset.attribution || "" }).addTo(map);
      var bounds = [];
      points.forEach(function (p) {
        var m = L.circleMarker([p.lat, p.lon], { radius: 7, color: p.color || "#0b5394", weight: 2, fillOpacity: 0.7 }).addTo(map);
        if (p.label) m.bindTooltip(p.label);
        bounds.push([p.lat, p.lon]);
      });
      var route = [];
      try { route = JSON.parse(el.dataset.route || "[]"); } catch (e) { route = []; }
      if (route.length > 1) L.polyline(route, { color: "#8a4b00", weight: 3, interactive: false }).addTo(map);
      var shapes = [];
      try { shapes = JSON.parse(el.dataset.shapes || "[]"); } catch (e) { shapes = []; }
      shapes.forEach(function (s) {
        L.polygon(s.ring, { color: s.exclusive ? "#a61b1b" : "#0b5394", weight: 2, fillOpacity: 0.15 }).addTo(map);
        s.ring.forEach(function (p) { bounds.push(p); });
      });
      if (bounds.length > 1) map.fitBounds(bounds, { padding: [20, 20] });
      else if (bounds.length === 1) map.setView(bounds[0], 13);
      else map.setView([55.75, 37.62], 4);
      if (el.dataset.draw !== undefined) {
        var input = document.getElementById("polygon"), corners = [], preview = null;
        map.on("click", function (e) {
          corners.push([e.latlng.lat, e.latlng.lng]);
          input.value = JSON.stringify(corners.map(function (c) { return [+c[1].toFixed(6), +c[0].toFixed(6)]; }));
          if (preview) preview.setLatLngs(corners);
          else preview = L.polygon(corners, { color: "#8a4b00", dashArray: "4", weight: 2, interactive: false }).addTo(map);
        });
      }
      if (el.dataset.pick !== undefined) {
        var lat = document.getElementById("lat"), lon = document.getElementById("lon"), marker = null;
        var place = function (ll) {
          if (marker) marker.setLatLng(ll); else marker = L.circleMarker(ll, { radius: 8, color: "#a61b1b" }).addTo(map);
        };
        if (lat.value && lon.value) { place([+lat.value, +lon.value]); map.setView([+lat.value, +lon.value], 12); }
        map.on("click", function (e) {
          lat.value = e.latlng.lat.toFixed(6);
          lon.value = e.latlng.lng.toFixed(6);
          place(e.latlng);
        });
      }
    });
  }

  function offsets() {
    document.querySelectorAll("input[name=tz_offset]").forEach(function (el) {
      el.value = String(-new Date().getTimezoneOffset());
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    offsets();
    maps();
    tick();
    setInterval(tick, 1000);
  });
  document.addEventListener("htmx:afterSwap", function () { tick(); maps(); });
})();
