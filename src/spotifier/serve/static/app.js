// Spotifier's page: build a playlist, ask /v1/continuations, show the suggestions.
"use strict";

const state = { tracks: [], model: null, active: -1, suggestions: [] };
const $ = (id) => document.getElementById(id);
let searchTimer = null;
let refreshTimer = null;
let searchSeq = 0;
let refreshSeq = 0;

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role") {
      node.setAttribute(key, value);
    } else node[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

function trackText(item) {
  // Own playlists may have no names: the track's id stands in, and absent fields are left out.
  return el("span", { class: "text" }, [
    el("span", { class: "track-name", text: item.name || item.uri }),
    el("span", { class: "track-meta", text: [item.artist, item.album].filter(Boolean).join(" · ") }),
  ]);
}

async function getJSON(url, options) {
  const response = await fetchWithKey(url, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || response.statusText);
  return body;
}

// ------------------------------------------------------------------ API key
// A server started with --api-keys answers /v1 only with "Authorization: Bearer KEY" (/healthz
// says so in `auth`). The page asks for the key once and keeps it for this browser session.
const KEY_ITEM = "spotifier-api-key";

async function askKeyIfNeeded() {
  try {
    const health = await (await fetch("/healthz")).json();
    if (health.auth && !sessionStorage.getItem(KEY_ITEM)) promptKey(false);
  } catch (err) { /* the first API call reports it */ }
}

function promptKey(refused) {
  const key = window.prompt(refused ? "That API key was refused. API key:"
    : "This server needs an API key:");
  if (key && key.trim()) sessionStorage.setItem(KEY_ITEM, key.trim());
  return Boolean(key && key.trim());
}

async function fetchWithKey(url, options = {}) {
  for (let attempt = 0; ; attempt++) {
    const key = sessionStorage.getItem(KEY_ITEM);
    const headers = { ...(options.headers || {}) };
    if (key) headers.Authorization = `Bearer ${key}`;
    const response = await fetch(url, { ...options, headers });
    if (response.status !== 401 || attempt >= 2) return response;
    if (sessionStorage.getItem(KEY_ITEM) !== key) continue; // another request asked meanwhile
    sessionStorage.removeItem(KEY_ITEM);
    if (!promptKey(Boolean(key))) return response;
  }
}

// ------------------------------------------------------------------ models
async function loadModels() {
  try {
    const body = await getJSON("/v1/models");
    const select = $("model");
    for (const m of body.models) {
      select.append(el("option", { value: m.name, text: m.name, selected: m.default }));
    }
    state.model = body.default;
    select.addEventListener("change", () => { state.model = select.value; refresh(); });
  } catch (err) {
    $("status").textContent = `could not list models: ${err.message}`;
  }
}

// ------------------------------------------------------------------ search box
function closeSuggestions() {
  $("suggestions").hidden = true;
  $("search").setAttribute("aria-expanded", "false");
  state.active = -1;
}

function renderSuggestions() {
  const list = $("suggestions");
  list.replaceChildren();
  if (!state.suggestions.length) {
    list.append(el("li", { class: "none", text: "No matching tracks" }));
  }
  state.suggestions.forEach((item, i) => {
    const option = el("li", {
      id: `sugg-${i}`, role: "option", "data-uri": item.uri,
      "aria-selected": String(i === state.active),
    }, [trackText(item)]);
    option.addEventListener("mousedown", (event) => { event.preventDefault(); pick(i); });
    list.append(option);
  });
  list.hidden = false;
  $("search").setAttribute("aria-expanded", "true");
  if (state.active >= 0) {
    $("search").setAttribute("aria-activedescendant", `sugg-${state.active}`);
    $(`sugg-${state.active}`).scrollIntoView({ block: "nearest" });
  } else {
    $("search").removeAttribute("aria-activedescendant");
  }
}

async function searchNow(query) {
  const seq = ++searchSeq;
  if (!query.trim()) { closeSuggestions(); return; }
  try {
    const body = await getJSON(`/v1/tracks/search?limit=8&q=${encodeURIComponent(query)}`);
    if (seq !== searchSeq) return; // a newer keystroke won
    const chosen = new Set(state.tracks.map((t) => t.uri));
    state.suggestions = body.items.filter((item) => !chosen.has(item.uri));
    state.active = state.suggestions.length ? 0 : -1;
    renderSuggestions();
  } catch (err) {
    $("status").textContent = `search failed: ${err.message}`;
  }
}

function pick(i) {
  const item = state.suggestions[i];
  if (!item) return;
  addTrack(item);
  $("search").value = "";
  closeSuggestions();
  $("search").focus();
}

function onSearchKey(event) {
  const open = !$("suggestions").hidden && state.suggestions.length;
  if (event.key === "ArrowDown" && open) {
    state.active = (state.active + 1) % state.suggestions.length;
    renderSuggestions();
    event.preventDefault();
  } else if (event.key === "ArrowUp" && open) {
    state.active = (state.active - 1 + state.suggestions.length) % state.suggestions.length;
    renderSuggestions();
    event.preventDefault();
  } else if (event.key === "Enter" && open) {
    pick(Math.max(state.active, 0));
    event.preventDefault();
  } else if (event.key === "Escape") {
    closeSuggestions();
  }
}

// ------------------------------------------------------------------ playlist
function addTrack(item) {
  if (state.tracks.some((t) => t.uri === item.uri)) return;
  state.tracks.push({ uri: item.uri, name: item.name, artist: item.artist, album: item.album });
  renderPlaylist();
  refresh();
}

function removeTrack(uri) {
  state.tracks = state.tracks.filter((t) => t.uri !== uri);
  renderPlaylist();
  refresh();
}

function renderPlaylist() {
  const list = $("playlist");
  list.replaceChildren();
  for (const item of state.tracks) {
    const remove = el("button", {
      class: "remove", text: "✕", title: "Remove", "aria-label": `Remove ${item.name}`,
    });
    remove.addEventListener("click", () => removeTrack(item.uri));
    list.append(el("li", { "data-uri": item.uri }, [trackText(item), remove]));
  }
  $("empty-playlist").hidden = state.tracks.length > 0;
}

// ------------------------------------------------------------------ continuation
function scheduleRefresh(delay) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, delay);
}

async function refresh() {
  clearTimeout(refreshTimer);
  const seq = ++refreshSeq;
  const list = $("continuation");
  list.setAttribute("aria-busy", "true");
  const started = performance.now();
  const request = {
    name: $("title").value.trim() || null,
    tracks: state.tracks.map((t) => t.uri),
    k: 50,
    explain: true,
  };
  if (state.model) request.model = state.model;
  try {
    const body = await getJSON("/v1/continuations", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(request),
    });
    if (seq !== refreshSeq) return;
    renderContinuation(body, performance.now() - started);
    showResult(body, request); // results.js: copy, download, compare
  } catch (err) {
    if (seq === refreshSeq) $("status").textContent = `error: ${err.message}`;
  } finally {
    if (seq === refreshSeq) list.setAttribute("aria-busy", "false");
  }
}

function renderContinuation(body, ms) {
  const list = $("continuation");
  list.replaceChildren();
  for (const item of body.items) {
    const text = trackText(item);
    if (item.reason) text.append(el("span", { class: "track-reason", text: item.reason }));
    const score = item.score === null ? "" : item.score.toPrecision(3);
    const button = el("button", { title: `Add ${item.name}` }, [
      text, el("span", { class: "score", text: score }), el("span", { class: "add", text: "+" }),
    ]);
    button.addEventListener("click", () => addTrack(item));
    list.append(el("li", { "data-uri": item.uri }, [button]));
  }
  list.dataset.refresh = String(Number(list.dataset.refresh) + 1);
  const via = { model: body.model, title: "the title model", popularity: "popularity" }[body.route];
  $("status").textContent = `${body.items.length} tracks by ${via || body.route} · ` +
    `${Math.round(ms)} ms`;
}

// ------------------------------------------------------------------ wiring
document.addEventListener("DOMContentLoaded", async () => {
  const search = $("search");
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => searchNow(search.value), 120);
  });
  search.addEventListener("keydown", onSearchKey);
  search.addEventListener("blur", () => setTimeout(closeSuggestions, 100));
  $("title").addEventListener("input", () => scheduleRefresh(300));
  renderPlaylist();
  await askKeyIfNeeded();
  await loadModels();
  refresh();
});
