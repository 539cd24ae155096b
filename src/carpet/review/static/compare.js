// Side-by-side (read-only) view of a carpet response folder.
"use strict";

const fmt = (v, d = 2) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function highlight(num) {
  for (const tr of document.querySelectorAll("tr[data-match]")) tr.classList.toggle("selected", tr.dataset.match === String(num));
  for (const m of document.querySelectorAll(".match-label")) m.classList.toggle("on", m.dataset.match === String(num));
}

function side(tp) {
  const sec = el("section", { class: "side", "data-timepoint": tp.name });
  sec.appendChild(el("h2", {}, tp.name === "baseline" ? "Baseline" : "Follow-up"));
  const p = tp.patient;
  sec.appendChild(el("p", { class: "totals" },
    `TMTV ${fmt(p.tmtv_ml)} mL · TLG ${fmt(p.tlg, 1)} · SUVmax ${fmt(p.suv_max)} · lesions ${p.lesion_count} · Dmax ${fmt(p.dmax_mm, 1)} mm`));
  const wrap = el("div", { class: "cmp-mip" });
  const img = el("img", { alt: `${tp.name} coronal MIP`, src: `/api/compare/${tp.name}/mip.png` });
  wrap.appendChild(img);
  sec.appendChild(wrap);
  const place = () => {
    for (const m of wrap.querySelectorAll(".match-label")) m.remove();
    const sx = img.clientWidth / tp.mip.width, sy = img.clientHeight / tp.mip.height;
    for (const l of tp.lesions) {
      if (l.match_number === null) continue;
      const m = el("span", { class: "match-label", "data-match": l.match_number }, String(l.match_number));
      m.style.left = `${img.offsetLeft + (l.mip_px[0] + 0.5) * sx + 6}px`;
      m.style.top = `${img.offsetTop + (l.mip_px[1] + 0.5) * sy - 8}px`;
      wrap.appendChild(m);
    }
  };
  img.addEventListener("load", () => {
    const w = tp.mip.width * tp.mip.pixel_mm[0], h = tp.mip.height * tp.mip.pixel_mm[1];
    const scale = Math.min(wrap.clientWidth / w, (window.innerHeight - 260) / h);
    img.style.width = `${w * scale}px`;
    img.style.height = `${h * scale}px`;
    place();
    document.body.dataset[`mip_${tp.name}`] = "1";
  });
  const table = el("table", { class: "cmp-table" });
  const head = el("tr");
  for (const h of ["match", "id", "mL", "SUVmax", "SUVpeak"]) head.appendChild(el("th", {}, h));
  table.appendChild(el("thead")).appendChild(head);
  const body = el("tbody");
  for (const l of tp.lesions) {
    const tr = el("tr", { "data-lesion-id": l.lesion_id, "data-match": l.match_number ?? "" });
    for (const c of [l.match_number ?? "new/gone", l.lesion_id, fmt(l.volume_ml), fmt(l.suv_max), fmt(l.suv_peak)]) tr.appendChild(el("td", {}, String(c)));
    if (l.match_number !== null) tr.addEventListener("click", () => highlight(l.match_number));
    body.appendChild(tr);
  }
  table.appendChild(body);
  sec.appendChild(table);
  return sec;
}

async function main() {
  try {
    const res = await fetch("/api/compare", { credentials: "same-origin" });
    const data = await res.json();
    if (!res.ok) throw new Error(data.error ? data.error.message : res.statusText);
    const sides = document.getElementById("sides");
    for (const tp of data.timepoints) sides.appendChild(side(tp));
    document.body.dataset.ready = "1";
  } catch (e) {
    document.getElementById("message").textContent = `could not load: ${e.message}`;
  }
}

main();
