// The page gives the result back: copy a finished continuation (track URIs or ids), download
// it (JSON, M3U), and show a second model's continuation beside it with the overlap marked.
// Loaded after app.js; app.js calls showResult(body, request) after each continuation.
"use strict";

const result = { body: null, request: null, other: null, compareSeq: 0 };

// A track's id: the last part of a Spotify URI (spotify:track:ID), otherwise the URI itself.
function trackId(uri) {
  return uri.startsWith("spotify:track:") ? uri.slice("spotify:track:".length) : uri;
}

function resultName() {
  return (result.request && result.request.name) || "spotifier continuation";
}

function fileStem() {
  const stem = resultName().toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  return stem || "continuation";
}

// ------------------------------------------------------------------ copy
async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain http on a LAN address is no secure context: the old way, through a selection.
  const area = el("textarea", { value: text, readOnly: true, class: "offscreen" });
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("the browser refused to copy");
}

async function copyResult(kind) {
  if (!result.body) return;
  const uris = result.body.items.map((item) => item.uri);
  const lines = kind === "ids" ? uris.map(trackId) : uris;
  try {
    await copyText(lines.join("\n") + "\n");
    note(`copied ${lines.length} track ${kind === "ids" ? "ids" : "URIs"}`);
  } catch (err) {
    note(`copy failed: ${err.message}`);
  }
}

function note(text) {
  $("result-note").textContent = text;
}

// ------------------------------------------------------------------ download
function resultJSON() {
  const body = result.body;
  return {
    name: result.request.name,
    seeds: result.request.tracks,
    model: body.model,
    model_version: body.model_version,
    route: body.route,
    tracks: body.items.map((item, i) => ({
      position: i + 1, uri: item.uri, id: trackId(item.uri), name: item.name,
      artist: item.artist, album: item.album, score: item.score,
    })),
  };
}

// Extended M3U: one #EXTINF line (unknown duration, "artist - name") before each URI.
function resultM3U() {
  const clean = (text) => String(text).replace(/[\r\n]+/g, " ");
  const lines = ["#EXTM3U", `#PLAYLIST:${clean(resultName())}`];
  for (const item of result.body.items) {
    lines.push(`#EXTINF:-1,${clean(item.artist)} - ${clean(item.name)}`, item.uri);
  }
  return lines.join("\n") + "\n";
}

function download(kind) {
  if (!result.body) return;
  const [text, type] = kind === "json"
    ? [JSON.stringify(resultJSON(), null, 2) + "\n", "application/json"]
    : [resultM3U(), "audio/x-mpegurl"];
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = el("a", { href: url, download: `${fileStem()}.${kind === "json" ? "json" : "m3u"}` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  note(`downloaded ${link.download}`);
}

// ------------------------------------------------------------------ compare
function compareModel() {
  return $("compare").value || null;
}

async function loadCompareModels() {
  try {
    const body = await getJSON("/v1/models");
    const select = $("compare");
    for (const m of body.models) select.append(el("option", { value: m.name, text: m.name }));
    $("compare-pick").hidden = body.models.length < 2;
  } catch (err) {
    $("compare-pick").hidden = true;
  }
  $("compare").addEventListener("change", () => compareNow());
}

async function compareNow() {
  const seq = ++result.compareSeq;
  const model = compareModel();
  const panel = $("compare-panel");
  panel.hidden = !model;
  document.querySelector("main").classList.toggle("comparing", Boolean(model));
  if (!model) {
    result.other = null;
    markOverlap();
    return;
  }
  if (!result.request) return;
  const list = $("other");
  list.setAttribute("aria-busy", "true");
  try {
    const body = await getJSON("/v1/continuations", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ...result.request, model }),
    });
    if (seq !== result.compareSeq) return;
    result.other = body;
    renderOther(body);
  } catch (err) {
    if (seq === result.compareSeq) $("other-status").textContent = `error: ${err.message}`;
  } finally {
    if (seq === result.compareSeq) list.setAttribute("aria-busy", "false");
  }
}

function renderOther(body) {
  const list = $("other");
  list.replaceChildren();
  for (const item of body.items) {
    const score = item.score === null ? "" : item.score.toPrecision(3);
    list.append(el("li", { "data-uri": item.uri }, [
      trackText(item), el("span", { class: "score", text: score }),
    ]));
  }
  $("other-h").textContent = `${body.model}`;
  list.dataset.refresh = String(Number(list.dataset.refresh) + 1);
  markOverlap();
}

// Tracks in both lists get class "both" (and a badge) in each; the counts go in the heads.
function markOverlap() {
  const other = result.other ? new Set(result.other.items.map((i) => i.uri)) : null;
  const mine = result.body ? new Set(result.body.items.map((i) => i.uri)) : new Set();
  const mark = (li, shared) => {
    li.classList.toggle("both", shared);
    const badge = li.querySelector(".both-badge");
    if (shared && !badge) {
      const host = li.querySelector("button") || li; // before the score, inside the button
      const badgeEl = el("span", { class: "both-badge", text: "both", title: "In both lists" });
      host.insertBefore(badgeEl, host.querySelector(".score"));
    } else if (!shared && badge) badge.remove();
  };
  for (const li of $("continuation").children) mark(li, Boolean(other && other.has(li.dataset.uri)));
  let shared = 0;
  for (const li of $("other").children) {
    const inBoth = mine.has(li.dataset.uri);
    shared += inBoth;
    mark(li, inBoth);
  }
  $("overlap").textContent = other
    ? `${shared} of ${result.other.items.length} also in ${result.body ? result.body.model : "the first list"}`
    : "";
  $("overlap").dataset.shared = other ? String(shared) : "";
}

// ------------------------------------------------------------------ the hook app.js calls
function showResult(body, request) {
  result.body = body;
  result.request = { name: request.name, tracks: request.tracks, k: request.k };
  for (const id of ["copy-uris", "copy-ids", "get-json", "get-m3u"]) {
    $(id).disabled = body.items.length === 0;
  }
  note("");
  if (compareModel()) compareNow();
  else markOverlap();
}

document.addEventListener("DOMContentLoaded", () => {
  $("copy-uris").addEventListener("click", () => copyResult("uris"));
  $("copy-ids").addEventListener("click", () => copyResult("ids"));
  $("get-json").addEventListener("click", () => download("json"));
  $("get-m3u").addEventListener("click", () => download("m3u"));
  loadCompareModels();
});
