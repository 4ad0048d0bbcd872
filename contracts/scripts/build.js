#!/usr/bin/env node
// Builds every contract the chain runs into one folder of artifacts
// ({ abi, bytecode, deployedBytecode } per contract):
//  - ours, contracts/src/*.sol, with the pinned solc-js (settings below);
//  - Chainlink's KeystoneForwarder from @chainlink/contracts, with Chainlink's own keystone
//    settings (solc 0.8.24, optimizer 1,000,000 runs, evm paris);
//  - Morpho Blue's Morpho.sol from @morpho-org/morpho-blue 1.0.0, with the compiler it pins
//    (solc 0.8.19, the npm alias solc-0.8.19) and Morpho's own foundry profile (via-IR,
//    optimizer 999,999 runs, evm paris, no metadata hash);
//  - Uniswap V2 factory, pair, Router02 and WETH9, whose shipped npm bytecode is used as is
//    (v2-core is built with solc 0.5.16; the router's init-code hash matches this pair bytecode).
// Usage: node scripts/build.js OUT_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const root = path.resolve(__dirname, '..');
const nm = path.join(root, 'node_modules');
const out = path.resolve(process.argv[2] || path.join(root, 'out'));
fs.mkdirSync(out, { recursive: true });

// Our contracts: recorded settings, the same for every file.
const OURS = { optimizer: { enabled: true, runs: 200 }, evmVersion: 'cancun', viaIR: false };
// Chainlink keystone's foundry profile.
const KEYSTONE = { optimizer: { enabled: true, runs: 1000000 }, evmVersion: 'paris', viaIR: false };
// Morpho Blue's foundry.toml [profile.default].
const MORPHO = {
  optimizer: { enabled: true, runs: 999999 }, evmVersion: 'paris', viaIR: true,
  metadata: { bytecodeHash: 'none' },
};

// Import resolution: '@openzeppelin/contracts@4.8.3/...' is the aliased package
// '@openzeppelin/contracts-4.8.3'; everything else resolves inside node_modules.
function findImports(p) {
  const alias = p.match(/^@openzeppelin\/contracts@([0-9.]+)\/(.*)$/);
  const file = alias
    ? path.join(nm, '@openzeppelin', `contracts-${alias[1]}`, alias[2])
    : path.join(nm, p);
  try {
    return { contents: fs.readFileSync(file, 'utf8') };
  } catch (e) {
    return { error: `import not found: ${p}` };
  }
}

function compile(sources, settings, wanted, compiler = solc) {
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      ...settings,
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    },
  };
  const output = JSON.parse(compiler.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  if (errors.length) {
    for (const e of errors) console.error(e.formattedMessage);
    process.exit(1);
  }
  for (const [file, contracts] of Object.entries(output.contracts)) {
    for (const [name, c] of Object.entries(contracts)) {
      if (wanted && !wanted(file, name)) continue;
      write(name, c.abi, c.evm.bytecode.object, c.evm.deployedBytecode.object);
    }
  }
}

function write(name, abi, bytecode, deployed) {
  const hex = (s) => (s.startsWith('0x') ? s : `0x${s}`);
  const artifact = { abi, bytecode: hex(bytecode), deployedBytecode: hex(deployed) };
  fs.writeFileSync(path.join(out, `${name}.json`), JSON.stringify(artifact, null, 1));
}

// 1. Ours.
const srcDir = path.join(root, 'src');
const ours = {};
for (const f of fs.readdirSync(srcDir).filter((f) => f.endsWith('.sol')).sort()) {
  ours[`src/${f}`] = { content: fs.readFileSync(path.join(srcDir, f), 'utf8') };
}
compile(ours, OURS, (file) => file.startsWith('src/'));

// 2. Chainlink KeystoneForwarder, as Chainlink builds it.
const fwd = '@chainlink/contracts/src/v0.8/keystone/KeystoneForwarder.sol';
compile({ [fwd]: { content: fs.readFileSync(path.join(nm, fwd), 'utf8') } }, KEYSTONE,
  (file, name) => file === fwd && name === 'KeystoneForwarder');

// 3. Morpho Blue, as Morpho builds it (its own pinned compiler).
const solcMorpho = require('solc-0.8.19');
const morpho = '@morpho-org/morpho-blue/src/Morpho.sol';
compile({ [morpho]: { content: fs.readFileSync(path.join(nm, morpho), 'utf8') } }, MORPHO,
  (file, name) => file === morpho && name === 'Morpho', solcMorpho);

// 4. Uniswap V2 and WETH9: shipped artifacts.
const shipped = [
  ['@uniswap/v2-core/build/UniswapV2Factory.json', 'UniswapV2Factory'],
  ['@uniswap/v2-core/build/UniswapV2Pair.json', 'UniswapV2Pair'],
  ['@uniswap/v2-periphery/build/UniswapV2Router02.json', 'UniswapV2Router02'],
  ['@uniswap/v2-periphery/build/WETH9.json', 'WETH9'],
  // Uniswap's sliding-window TWAP oracle: the on-chain price a dark-pool fill is checked against.
  ['@uniswap/v2-periphery/build/ExampleSlidingWindowOracle.json', 'SlidingWindowOracle'],
];
for (const [file, name] of shipped) {
  const a = JSON.parse(fs.readFileSync(path.join(nm, file), 'utf8'));
  write(name, a.abi, a.bytecode || a.evm.bytecode.object, a.evm.deployedBytecode.object);
}

fs.writeFileSync(path.join(out, 'BUILD_INFO.json'), JSON.stringify({
  solc: solc.version(), ours: OURS, keystoneForwarder: KEYSTONE,
  morpho: { solc: solcMorpho.version(), settings: MORPHO },
  uniswap: 'shipped bytecode from @uniswap/v2-core 1.0.1 and @uniswap/v2-periphery 1.1.0-beta.0',
}, null, 1));
console.error(`contracts built into ${out}`);
