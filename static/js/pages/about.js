// /about: the table of contents from the sections themselves, so it cannot fall out of step with them.
const toc = document.querySelector(".toc");
for (const s of document.querySelectorAll("section[data-widget]")) {
  const a = document.createElement("a");
  a.href = `#${s.id}`;
  a.textContent = s.querySelector("h2").textContent;
  toc.appendChild(a);
}
