// The facts page: what each loaded bundle's metadata says, as nested lists.

import { api, askForToken, element } from "./api.js";

const statusLine = document.getElementById("status");
const container = document.getElementById("facts");

const SECTIONS = [
  ["class_names", "Classes"],
  ["input", "Input"],
  ["format", "Model format"],
  ["variant", "Variant"],
  ["export_method", "Export method"],
  ["exported_at", "Exported"],
  ["schema_version", "Metadata schema"],
  ["size_bytes", "Size on the device (bytes)"],
  ["backend", "Interpreter"],
  ["explain", "Can show where it looked"],
  ["confidence_threshold", "Confidence below which answers are referred for review"],
  ["verification", "Verification (on the split named inside)"],
  ["calibration", "Calibration"],
  ["referral", "Referral"],
  ["out_of_distribution", "Refusal of images unlike the training images"],
];

async function load() {
  try {
    const bundles = await api("/v1/bundles");
    container.replaceChildren(...bundles.map(bundleSection));
    statusLine.textContent = `${bundles.length} bundle(s) loaded.`;
  } catch (error) {
    if (error.status === 401) askForToken(error.message, load);
    statusLine.textContent = `Cannot load the bundles: ${error.message}`;
  }
}

function bundleSection(bundle) {
  const section = element("section", "panel facts");
  section.append(element("h3", "", bundle.name));
  const list = element("dl");
  for (const [key, title] of SECTIONS) {
    list.append(element("dt", "", title), describe(bundle[key]));
  }
  section.append(list);
  return section;
}

// A value as the page shows it: absent, a number, a list, or a nested list of named values.
function describe(value) {
  const cell = element("dd");
  if (value === null || value === undefined) {
    cell.textContent = "not in this bundle";
  } else if (Array.isArray(value)) {
    cell.textContent = value.map(shown).join(", ");
  } else if (typeof value === "object") {
    const inner = element("dl", "nested");
    for (const [key, item] of Object.entries(value)) {
      inner.append(element("dt", "", key.replaceAll("_", " ")), describe(item));
    }
    cell.append(inner);
  } else {
    cell.textContent = shown(value);
  }
  return cell;
}

function shown(value) {
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "number" && !Number.isInteger(value)) return String(Number(value.toPrecision(6)));
  return String(value);
}

load();
