// carpet review page. Talks only to its own origin (CSP); the access token lives in an
// HttpOnly cookie, state-changing requests carry the CSRF token of /api/summary.
"use strict";

const state = {
  csrf: null,
  lesions: [],
  selected: null,
  sortKey: "lesion_id",
  sortDir: 1,
  cursorLps: null,
  mip: null,
  nv: null,
  labelVolume: null,
  labelsVersion: -1,
  version: -1,
  busy: false,
};

const $ = (id) => document.getElementById(id);
const fmt = (v, d = 2) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(d));

async function api(path, body) {
  const opts = { credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.headers["X-CSRF-Token"] = state.csrf;
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  const data = await res.json();
  if (!res.ok) {
    const err = new Error(data.error ? `[${data.error.code}] ${data.error.message}` : res.statusText);
    err.status = res.status;
    throw err;
  }
  return data;
}

function message(text, ok = false) {
  const el = $("message");
  el.textContent = text;
  el.classList.toggle("ok", ok);
}

// ---------------------------------------------------------------- summary / totals
function showSummary(s) {
  const p = s.patient;
  $("t-tmtv").textContent = fmt(p.tmtv_ml);
  $("t-tlg").textContent = fmt(p.tlg, 1);
  $("t-suvmax").textContent = fmt(p.suv_max);
  $("t-count").textContent = p.lesion_count ?? "–";
  $("t-dmax").textContent = fmt(p.dmax_mm, 1);
  $("btn-undo").disabled = !s.can_undo;
  $("btn-redo").disabled = !s.can_redo;
  const st = $("state");
  st.textContent = s.dirty ? "unsaved edits" : s.saved ? "saved" : "";
  st.classList.toggle("saved", !s.dirty);
  const sel = $("method");
  if (!sel.options.length) {
    for (const m of s.methods) {
      sel.add(new Option(m, m));
      $("add-method").add(new Option(m, m));
    }
  }
  sel.value = s.method;
  if (!$("add-method").dataset.touched) $("add-method").value = s.method;
  if (s.version !== state.version) {
    state.version = s.version;
    refreshMip();
  }
  if (s.labels_version !== state.labelsVersion) {
    state.labelsVersion = s.labels_version;
    reloadLabels();
  }
}

async function refreshSummary() {
  const s = await api("/api/summary");
  state.csrf = s.csrf_token;
  showSummary(s);
  return s;
}

// ---------------------------------------------------------------- lesion table
async function refreshLesions() {
  state.lesions = await api("/api/lesions");
  renderTable();
  updateLabelColours();
}

function renderTable() {
  const key = state.sortKey;
  const dir = state.sortDir;
  const rows = [...state.lesions].sort((a, b) => {
    const x = a[key], y = b[key];
    if (x === y) return a.lesion_id - b.lesion_id;
    return (x > y ? 1 : -1) * dir;
  });
  const tbody = document.querySelector("#lesions tbody");
  tbody.replaceChildren();
  for (const l of rows) {
    const tr = document.createElement("tr");
    tr.dataset.lesionId = l.lesion_id;
    tr.className = `status-${l.status}` + (l.lesion_id === state.selected ? " selected" : "");
    const cells = [l.lesion_id, fmt(l.volume_ml), fmt(l.suv_max), fmt(l.suv_peak), fmt(l.suv_mean), fmt(l.tlg, 1), l.status];
    for (const c of cells) {
      const td = document.createElement("td");
      td.textContent = c;
      tr.appendChild(td);
    }
    tr.addEventListener("click", () => selectLesion(l.lesion_id, true));
    tbody.appendChild(tr);
  }
  for (const th of document.querySelectorAll("#lesions th")) {
    th.classList.toggle("sorted-asc", th.dataset.key === key && dir > 0);
    th.classList.toggle("sorted-desc", th.dataset.key === key && dir < 0);
  }
}

function selectLesion(id, moveViews) {
  state.selected = id;
  for (const tr of document.querySelectorAll("#lesions tbody tr")) {
    const on = Number(tr.dataset.lesionId) === id;
    tr.classList.toggle("selected", on);
    if (on) tr.scrollIntoView({ block: "nearest" });
  }
  const l = state.lesions.find((x) => x.lesion_id === id);
  if (l && moveViews) moveTo(l.centroid_mm);
  if (l) placeMarker(l.mip_px);
}

// ---------------------------------------------------------------- MIP
function refreshMip() {
  const img = $("mip");
  img.src = `/api/mip.png?v=${state.version}`;
}

async function loadMipInfo() {
  state.mip = await api("/api/mip");
  sizeMip();
}

function sizeMip() {
  if (!state.mip) return;
  const wrap = $("mip-wrap");
  const [w, h] = [state.mip.width * state.mip.pixel_mm[0], state.mip.height * state.mip.pixel_mm[1]];
  const scale = Math.min(wrap.clientWidth / w, (wrap.clientHeight || 600) / h);
  const img = $("mip");
  img.style.width = `${w * scale}px`;
  img.style.height = `${h * scale}px`;
  if (state.selected !== null) {
    const l = state.lesions.find((x) => x.lesion_id === state.selected);
    if (l) placeMarker(l.mip_px);
  }
}

function placeMarker(px) {
  const mk = $("mip-marker");
  const img = $("mip");
  if (!px || !state.mip) { mk.hidden = true; return; }
  const sx = img.clientWidth / state.mip.width, sy = img.clientHeight / state.mip.height;
  mk.style.left = `${img.offsetLeft + (px[0] + 0.5) * sx}px`;
  mk.style.top = `${img.offsetTop + (px[1] + 0.5) * sy}px`;
  mk.hidden = false;
}

async function onMipClick(ev) {
  const img = $("mip");
  const r = img.getBoundingClientRect();
  const column = Math.floor(((ev.clientX - r.left) / r.width) * state.mip.width);
  const row = Math.floor(((ev.clientY - r.top) / r.height) * state.mip.height);
  try {
    const hit = await api(`/api/pick?column=${column}&row=${row}`);
    moveTo(hit.point_mm);
    if (hit.lesion_id !== null) {
      selectLesion(hit.lesion_id, false);
      placeMarker([column, row]);
      message(`lesion ${hit.lesion_id} (SUV ${fmt(hit.suv)} at the hottest voxel of the ray)`, true);
    } else {
      message(`no lesion along this ray (hottest SUV ${fmt(hit.suv)})`);
    }
  } catch (e) { message(e.message); }
}

// ---------------------------------------------------------------- slice views (NiiVue)
function lpsToRas(p) { return [-p[0], -p[1], p[2]]; }

function moveTo(pointLps) {
  state.cursorLps = pointLps;
  showCursor(pointLps);
  const nv = state.nv;
  if (!nv || !nv.volumes.length) return;
  nv.scene.crosshairPos = nv.mm2frac(lpsToRas(pointLps));
  nv.drawScene();
}

let probeTimer = null;
function showCursor(p, suv) {
  const txt = (s) => `SUV ${s} at LPS (${fmt(p[0], 1)}, ${fmt(p[1], 1)}, ${fmt(p[2], 1)}) mm`;
  $("cursor").textContent = txt(suv === undefined ? "…" : fmt(suv));
  clearTimeout(probeTimer);
  probeTimer = setTimeout(async () => {
    try {
      const r = await api(`/api/probe?point_mm=${p.map((v) => v.toFixed(2)).join(",")}`);
      $("cursor").textContent = txt(fmt(r.suv)) + (r.lesion_id ? ` · lesion ${r.lesion_id}` : "");
    } catch (e) { $("cursor").textContent = txt("outside"); }
  }, 60);
}

async function initViewer(summary) {
  const t0 = performance.now();
  if (!window.niivue) { message("slice viewer (NiiVue) not available"); return; }
  const nv = new window.niivue.Niivue({
    backColor: [0, 0, 0, 1], show3Dcrosshair: false, isColorbar: true, logLevel: "error",
    dragAndDropEnabled: false, isOrientCube: false, crosshairColor: [0, 0.9, 1, 0.8],
    crosshairWidth: 1, crosshairGap: 10, multiplanarLayout: 2, multiplanarShowRender: 0,
  });
  state.nv = nv;
  await nv.attachToCanvas($("gl"));
  nv.setSliceType(nv.sliceTypeMultiplanar);
  nv.setRadiologicalConvention(true);
  nv.onLocationChange = (d) => {
    const lps = [-d.mm[0], -d.mm[1], d.mm[2]];
    state.cursorLps = lps;
    showCursor(lps);
  };
  const vols = [];
  if (summary.has_ct) {
    vols.push({ url: "/api/volume/ct.nii", colormap: "gray", cal_min: -160, cal_max: 240, trustCalMinMax: true });
    $("ct-presets").hidden = false;
  }
  vols.push({
    url: "/api/volume/pet.nii", colormap: summary.has_ct ? "hot" : "gray", cal_min: 0, cal_max: 10,
    opacity: summary.has_ct ? 0.55 : 1, trustCalMinMax: true,
  });
  await nv.loadVolumes(vols);
  state.petIndex = vols.length - 1;
  await reloadLabels();
  if (state.lesions.length) selectLesion(state.lesions[0].lesion_id, true);
  document.body.dataset.viewerMs = Math.round(performance.now() - t0);
  document.body.dataset.viewer = "ready";
}

async function reloadLabels() {
  const nv = state.nv;
  if (!nv || state.petIndex === undefined) return;
  if (state.labelVolume) { nv.removeVolume(state.labelVolume); state.labelVolume = null; }
  const img = await window.niivue.NVImage.loadFromUrl({ url: `/api/volume/labels.nii?v=${state.labelsVersion}`, opacity: 0.6, colorbarVisible: false });
  nv.addVolume(img);
  state.labelVolume = img;
  updateLabelColours();
}

function updateLabelColours() {
  const img = state.labelVolume;
  if (!img || !state.nv) return;
  const maxId = state.lesions.reduce((m, l) => Math.max(m, l.lesion_id), 0);
  const R = [0], G = [0], B = [0], A = [0], I = [0], labels = [""];
  for (let i = 1; i <= maxId; i++) {
    const l = state.lesions.find((x) => x.lesion_id === i);
    const gone = !l || l.status === "removed" || l.status === "physiological";
    // lesions in green shades (distinct from the PET colour scale), removed ones hidden
    R.push(gone ? 120 : (i * 53) % 90); G.push(gone ? 120 : 255); B.push(gone ? 120 : 80 + ((i * 37) % 120));
    A.push(gone ? 0 : 255); I.push(i); labels.push(`lesion ${i}`);
  }
  img.setColormapLabel({ R, G, B, A, I, labels });
  img.opacity = $("show-labels").checked ? 0.6 : 0;
  state.nv.updateGLVolume();
}

function setSuvWindow(max) {
  const nv = state.nv;
  if (!nv || state.petIndex === undefined) return;
  nv.volumes[state.petIndex].cal_min = 0;
  nv.volumes[state.petIndex].cal_max = max;
  nv.updateGLVolume();
}

const CT_PRESETS = { soft: [-160, 240], lung: [-1000, 200], bone: [-500, 1300] };
function setCtWindow(name) {
  const nv = state.nv;
  if (!nv || !nv.volumes.length || state.petIndex === 0) return;
  [nv.volumes[0].cal_min, nv.volumes[0].cal_max] = CT_PRESETS[name];
  nv.updateGLVolume();
}

// ---------------------------------------------------------------- actions
async function send(actions) {
  if (state.busy) return;
  state.busy = true;
  try {
    const s = await api("/api/edits", actions);
    showSummary(s);
    await refreshLesions();
    message(`${actions.map((a) => a.action).join(", ")} done`, true);
    return s;
  } catch (e) { message(e.message); } finally { state.busy = false; }
}

async function undoRedo(which) {
  try {
    const s = await api(`/api/${which}`, {});
    showSummary(s);
    await refreshLesions();
    message(`${which} done`, true);
  } catch (e) { message(e.message); }
}

async function save() {
  try {
    const r = await api("/api/save", {});
    showSummary(r.summary);
    message(`saved: ${Object.keys(r.paths).join(", ")}`, true);
  } catch (e) { message(e.message); }
}

function needSelection() {
  if (state.selected === null) { message("select a lesion first (table or MIP)"); return false; }
  return true;
}

const actions = {
  remove: () => needSelection() && send([{ action: "remove", lesion_id: state.selected }]),
  restore: () => needSelection() && send([{ action: "restore", lesion_id: state.selected }]),
  physio: () => needSelection() && send([{ action: "physiological", lesion_id: state.selected }]),
  add: async () => {
    if (!state.cursorLps) { message("put the cursor on the lesion first"); return; }
    const s = await send([{ action: "add", point_mm: state.cursorLps.map((v) => Number(v.toFixed(3))), method: $("add-method").value }]);
    if (s && state.lesions.length) {
      const newest = state.lesions.reduce((a, b) => (b.lesion_id > a.lesion_id ? b : a));
      selectLesion(newest.lesion_id, false);
    }
  },
};

function moveSelection(step) {
  const ids = [...document.querySelectorAll("#lesions tbody tr")].map((tr) => Number(tr.dataset.lesionId));
  if (!ids.length) return;
  const i = ids.indexOf(state.selected);
  const j = i < 0 ? 0 : Math.min(ids.length - 1, Math.max(0, i + step));
  selectLesion(ids[j], true);
}

function onKey(ev) {
  if (ev.target.tagName === "SELECT" || ev.target.tagName === "INPUT") return;
  const k = ev.key.toLowerCase();
  const mod = ev.ctrlKey || ev.metaKey;
  if (mod && k === "z" && !ev.shiftKey) { ev.preventDefault(); undoRedo("undo"); }
  else if (mod && (k === "y" || (k === "z" && ev.shiftKey))) { ev.preventDefault(); undoRedo("redo"); }
  else if (mod && k === "s") { ev.preventDefault(); save(); }
  else if (mod) return;
  else if (k === "r" || k === "delete") actions.remove();
  else if (k === "t") actions.restore();
  else if (k === "p") actions.physio();
  else if (k === "a") actions.add();
  else if (k === "arrowdown" || k === "j") { ev.preventDefault(); moveSelection(1); }
  else if (k === "arrowup" || k === "k") { ev.preventDefault(); moveSelection(-1); }
}

// ---------------------------------------------------------------- start
async function main() {
  $("btn-remove").addEventListener("click", actions.remove);
  $("btn-restore").addEventListener("click", actions.restore);
  $("btn-physio").addEventListener("click", actions.physio);
  $("btn-add").addEventListener("click", actions.add);
  $("btn-undo").addEventListener("click", () => undoRedo("undo"));
  $("btn-redo").addEventListener("click", () => undoRedo("redo"));
  $("btn-save").addEventListener("click", save);
  $("add-method").addEventListener("change", (e) => { e.target.dataset.touched = "1"; });
  $("method").addEventListener("change", (e) => send([{ action: "set_method", method: e.target.value }]));
  $("mip").addEventListener("click", onMipClick);
  $("mip").addEventListener("load", sizeMip);
  $("show-labels").addEventListener("change", updateLabelColours);
  for (const b of document.querySelectorAll("[data-suv]")) b.addEventListener("click", () => setSuvWindow(Number(b.dataset.suv)));
  for (const b of document.querySelectorAll("[data-ct]")) b.addEventListener("click", () => setCtWindow(b.dataset.ct));
  for (const th of document.querySelectorAll("#lesions th")) {
    th.addEventListener("click", () => {
      if (state.sortKey === th.dataset.key) state.sortDir = -state.sortDir;
      else { state.sortKey = th.dataset.key; state.sortDir = th.dataset.key === "lesion_id" ? 1 : -1; }
      renderTable();
    });
  }
  document.addEventListener("keydown", onKey);
  window.addEventListener("resize", sizeMip);
  window.addEventListener("beforeunload", (e) => { if ($("state").textContent === "unsaved edits") e.preventDefault(); });
  try {
    await loadMipInfo();
    await refreshLesions();
    const summary = await refreshSummary();
    document.body.dataset.ready = "1";
    await initViewer(summary);
  } catch (e) {
    message(`could not load the review: ${e.message}`);
  }
}

main();
