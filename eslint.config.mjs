// The pages' JavaScript against what OBS's browser source runs: Chromium 127 (package.json's
// browserslist; ../shared/notes/twitch-obs.md). `make test` runs it; tests/test_js_compat.py checks
// that a newer API really fails.
// - eslint-plugin-compat: web APIs missing from Chrome 127 (MDN's compatibility data).
// - eslint-plugin-es-x: JavaScript built-ins and syntax newer than ES2024, except what Chrome 127
//   already ships (listed below with the Chrome version that shipped it).
// - ecmaVersion 2024: newer syntax does not even parse.
import compat from "eslint-plugin-compat";
import esx from "eslint-plugin-es-x";
import globals from "globals";

const IN_CHROME_127 = {
  "es-x/no-array-fromasync": "off", // 121
  "es-x/no-iterator": "off", // iterator helpers, 122
  "es-x/no-iterator-prototype-drop": "off",
  "es-x/no-iterator-prototype-every": "off",
  "es-x/no-iterator-prototype-filter": "off",
  "es-x/no-iterator-prototype-find": "off",
  "es-x/no-iterator-prototype-flatmap": "off",
  "es-x/no-iterator-prototype-foreach": "off",
  "es-x/no-iterator-prototype-map": "off",
  "es-x/no-iterator-prototype-reduce": "off",
  "es-x/no-iterator-prototype-some": "off",
  "es-x/no-iterator-prototype-take": "off",
  "es-x/no-iterator-prototype-toarray": "off",
  "es-x/no-set-prototype-difference": "off", // set methods, 122
  "es-x/no-set-prototype-intersection": "off",
  "es-x/no-set-prototype-isdisjointfrom": "off",
  "es-x/no-set-prototype-issubsetof": "off",
  "es-x/no-set-prototype-issupersetof": "off",
  "es-x/no-set-prototype-symmetricdifference": "off",
  "es-x/no-set-prototype-union": "off",
  "es-x/no-import-attributes": "off", // 123
  "es-x/no-json-modules": "off", // 123
  "es-x/no-dynamic-import-options": "off", // 123
  "es-x/no-trailing-dynamic-import-commas": "off", // 123
  "es-x/no-regexp-modifiers": "off", // 125
  "es-x/no-regexp-duplicate-named-capturing-groups": "off", // 125
  "es-x/no-json-rawjson": "off", // 114
  "es-x/no-json-israwjson": "off", // 114
  "es-x/no-json-parse-reviver-context-parameter": "off", // 114
};

export default [
  {
    files: ["static/js/**/*.js"],
    plugins: { compat, "es-x": esx },
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: "module",
      globals: { ...globals.browser },
    },
    settings: { polyfills: [], lintAllEsApis: true },
    rules: {
      "compat/compat": "error",
      "no-undef": "error",
      // Web APIs newer than Chrome 127 that MDN's data in eslint-plugin-compat does not know yet.
      "no-restricted-properties": [
        "error",
        { property: "moveBefore", message: "Node.moveBefore is Chrome 133; OBS runs Chromium 127" },
      ],
      ...esx.configs["flat/no-new-in-es2025"].rules,
      ...esx.configs["flat/no-new-in-esnext"].rules,
      ...IN_CHROME_127,
    },
  },
];
