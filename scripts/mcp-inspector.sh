#!/usr/bin/env bash
# Checks the MCP server with the official MCP Inspector's CLI mode against a running Airlock (`npm start`; set
# AIRLOCK_URL for another): it lists the tools with a dev identity token, calls list_connections, and shows that a
# bad token gets Airlock's own error (no OAuth flow). Needs the npm registry the first time (npx fetches the inspector).
set -euo pipefail
URL="${AIRLOCK_URL:-http://127.0.0.1:8787}"
INSPECTOR=(npx -y @modelcontextprotocol/inspector@2.12.0 --cli "$URL/mcp" --transport http)

TOKEN=$(curl -fsS -X POST "$URL/dev/token" -H 'content-type: application/json' \
  -d '{"sub":"agent:inspector","groups":["finance"]}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')

echo "== tools/list (a dev identity token)"
"${INSPECTOR[@]}" --method tools/list --header "Authorization: Bearer $TOKEN" 2>/dev/null |
  node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>{const t=JSON.parse(s.slice(0,s.lastIndexOf("}")+1)).tools;console.log(t.map((x)=>x.name).join("\n"))})'

echo "== tools/call list_connections"
"${INSPECTOR[@]}" --method tools/call --tool-name list_connections --header "Authorization: Bearer $TOKEN"

echo "== a bad token: Airlock's 401 error body, no OAuth flow"
"${INSPECTOR[@]}" --method tools/list --header "Authorization: Bearer not-a-token" --stored-auth-only || true
