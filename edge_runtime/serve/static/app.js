// The classify page: pick or drop images, see each bundle's answer, its probabilities, where it looked and its times.

import { api, askForToken, element } from "./api.js";

const main = document.getElementById("main");
const WORDS = { uncertain: main.dataset.uncertain, notRecognised: main.dataset.notRecognised };
const bundleSelect = document.getElementById("bundle");
const compareBox = document.getElementById("compare");
const secondSelect = document.getElementById("bundle2");
const explainBox = document.getElementById("explain");
const fileInput = document.getElementById("files");
const drop = document.getElementById("drop");
const statusLine = document.getElementById("status");
const results = document.getElementById("results");
let facts = new Map();
let barCount = 0; // ids tying each probability bar to its label

// Images can be chosen or dropped only once the bundles are known: the status line says why not yet.
function setReady(ready, why) {
  fileInput.disabled = !ready;
  drop.classList.toggle("waiting", !ready);
  statusLine.textContent = why;
}

async function loadBundles() {
  setReady(false, "Loading the models…");
  try {
    const bundles = await api("/v1/bundles");
    facts = new Map(bundles.map((bundle) => [bundle.name, bundle]));
    for (const select of [bundleSelect, secondSelect]) {
      select.replaceChildren(...bundles.map((bundle) => new Option(bundle.name, bundle.name)));
    }
    if (bundles.length > 1) secondSelect.selectedIndex = 1;
    compareBox.disabled = bundles.length < 2;
    setReady(true, `Ready: ${bundles.length} bundle(s) loaded.`);
  } catch (error) {
    if (error.status === 401) {
      setReady(false, "Type the access token above: images can be chosen once the models are loaded.");
      askForToken(error.message, loadBundles);
    } else {
      setReady(false, `Cannot load the models, so images cannot be classified: ${error.message}`);
    }
  }
}

function chosenBundles() {
  const names = [bundleSelect.value];
  if (compareBox.checked && secondSelect.value) names.push(secondSelect.value);
  return names;
}

async function classifyAll(files) {
  if (fileInput.disabled) return; // dropped before the models were loaded: the status line says why
  const list = Array.from(files);
  for (const [index, file] of list.entries()) {
    statusLine.textContent = `Classifying ${index + 1} of ${list.length}: ${file.name}`;
    const card = newCard(file);
    // Side by side: the same image through each chosen bundle, at the same time (each shows its own error).
    await Promise.all(chosenBundles().map((name) => classifyWith(name, file, card)));
  }
  statusLine.textContent = `Done: ${list.length} image(s).`;
}

function newCard(file) {
  const card = element("li", "card");
  card.append(element("h2", "source", file.name));
  if (file.type.startsWith("image/")) card.append(thumbnail(file));
  const answers = element("div", "answers");
  card.append(answers);
  results.prepend(card);
  return answers;
}

function thumbnail(file) {
  const image = element("img", "thumbnail");
  image.alt = `${file.name} as uploaded`;
  image.src = URL.createObjectURL(file);
  image.onload = () => URL.revokeObjectURL(image.src);
  image.onerror = () => image.remove(); // a file named .jpg that is no image
  return image;
}

// One bundle's answer in its own section; it never rejects: whatever fails is shown in place of "Classifying…".
async function classifyWith(name, file, answers) {
  const section = element("section", "answer");
  section.setAttribute("aria-label", `${name}: answer`);
  section.append(element("h3", "bundle", name), element("p", "pending", "Classifying…"));
  answers.append(section);
  try {
    const bundle = facts.get(name);
    if (!bundle) throw new Error(`the server has no bundle ${name} loaded: reload the page`);
    const explain = explainBox.checked && bundle.explain;
    const query = new URLSearchParams({ bundle: name, top_k: String(bundle.class_names.length), explain: String(explain) });
    const form = new FormData();
    form.append("image", file, file.name);
    const record = await api(`/v1/classify?${query}`, { method: "POST", body: form });
    section.replaceChildren(element("h3", "bundle", name), ...answerParts(record, file, explainBox.checked, bundle));
  } catch (error) {
    const alert = element("p", "error", error.message);
    alert.setAttribute("role", "alert");
    section.replaceChildren(element("h3", "bundle", name), alert);
    if (error.status === 401) askForToken(error.message, loadBundles);
  }
}

function answerParts(record, file, wantedMap, bundle) {
  const parts = [verdict(record), bars(record)];
  if (record.overlay) {
    const image = element("img", "overlay");
    image.src = record.overlay;
    image.alt = `Where ${record.bundle} looked for ${record.label}, over ${file.name}`;
    parts.push(image);
  } else if (wantedMap && !bundle.explain) {
    parts.push(element("p", "note", "This bundle cannot show where it looked (its head is not a single dense layer)."));
  }
  parts.push(timings(record));
  return parts;
}

// The answer in the command line's words: a label only when the bundle recognises the image and is confident.
function verdict(record) {
  if (record.ood) return element("p", "verdict refused", WORDS.notRecognised);
  if (record.uncertain) return element("p", "verdict uncertain", WORDS.uncertain);
  return element("p", "verdict", record.label);
}

function bars(record) {
  const list = element("ul", "bars");
  list.setAttribute("aria-label", "Probabilities");
  for (const { label, score } of record.top_k) {
    const row = element("li");
    const id = `p-${(barCount += 1)}`;
    const name = element("label", "class", label);
    name.htmlFor = id;
    const bar = element("progress");
    bar.id = id;
    bar.max = 1;
    bar.value = score;
    row.append(name, bar, element("span", "score", `${(100 * score).toFixed(1)}%`));
    list.append(row);
  }
  return list;
}

function timings(record) {
  const steps = record.timings_ms;
  const text = steps
    ? `decode ${steps.decode.toFixed(1)} ms · preprocess ${steps.preprocess.toFixed(1)} ms · inference ${steps.inference.toFixed(1)} ms`
    : "";
  return element("p", "timings", text);
}

fileInput.addEventListener("change", async () => {
  await classifyAll(fileInput.files);
  fileInput.value = ""; // the same file can be chosen again
});
compareBox.addEventListener("change", () => {
  secondSelect.disabled = !compareBox.checked;
});
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("dragging");
});
drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("dragging");
  classifyAll(event.dataTransfer.files);
});

loadBundles();
