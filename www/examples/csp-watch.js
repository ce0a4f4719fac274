// Records Content-Security-Policy violations of the page (and whether eval is blocked),
// so that a test, or you in the console, can see that the micro-frontends need nothing
// a strict policy forbids.
window.__csp = { violations: [], evalBlocked: false };
document.addEventListener("securitypolicyviolation", (e) => {
  if (e.sourceFile?.endsWith("csp-watch.js")) return; // the eval probe below
  window.__csp.violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}`);
});
try {
  new Function("return 1")();
} catch {
  window.__csp.evalBlocked = true;
}
