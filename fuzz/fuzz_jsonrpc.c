/* libFuzzer target: JSON-RPC dispatch as far as it goes without I/O —
 * parsing with the worker's depth limit, message classification, protocol
 * version negotiation, tools/list paging cursors and tools/call preparation
 * (catalog lookup, server config filters, argument validation) against the
 * real embedded catalog. The input is one JSON-RPC message; its optional
 * member "_config" is used as the server's config so filters get fuzzed too.
 * Build and run: make fuzz (FUZZ_FILTER=jsonrpc). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fz_catalog.h"
#include "ju.h"
#include "wk_mcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    const wk_catalog_t *cat = fz_catalog();
    json_t *msg = ju_parse((const char *)data, size, 32, err, sizeof err);
    if (!msg)
        return 0;
    enum wk_msg_kind kind = wk_mcp_classify(msg, err, sizeof err);
    const json_t *id = json_object_get(msg, "id");
    json_t *resp = NULL;
    if (kind == WK_MSG_REQUEST) {
        const char *method = ju_str(msg, "method");
        const json_t *params = json_object_get(msg, "params");
        json_t *empty = json_object();
        const json_t *cfg = json_object_get(msg, "_config");
        if (!json_is_object(cfg))
            cfg = empty;
        if (!params)
            params = empty;
        if (strcmp(method, "initialize") == 0) {
            const char *pv = wk_mcp_negotiate(ju_str(params, "protocolVersion"));
            resp = wk_mcp_result(id, json_pack("{s:s}", "protocolVersion", pv));
        } else if (strcmp(method, "tools/list") == 0) {
            json_t *r = wk_catalog_list(cat, cfg, ju_str(params, "cursor"), 20, err, sizeof err);
            resp = r ? wk_mcp_result(id, r) : wk_mcp_error(id, WK_RPC_INVALID_PARAMS, err, NULL);
        } else if (strcmp(method, "tools/call") == 0) {
            const wk_tool_t *tool;
            json_t *args;
            int rc = wk_mcp_prepare_call(cat, cfg, params, &tool, &args, err, sizeof err);
            if (rc == 0) {
                resp = wk_mcp_result(id, json_pack("{s:s}", "tool", tool->name));
                json_decref(args);
            } else {
                resp = wk_mcp_error(id, rc, err, NULL);
            }
        } else if (strcmp(method, "search_tools") == 0) {
            resp = wk_mcp_result(id, wk_catalog_search(cat, cfg, ju_str(params, "query"), 10));
        } else {
            resp = wk_mcp_error(id, WK_RPC_METHOD_NOT_FOUND, "Method not found", NULL);
        }
        json_decref(empty);
    } else if (kind == WK_MSG_INVALID) {
        resp = wk_mcp_error(NULL, WK_RPC_INVALID_REQUEST, err, NULL);
    }
    if (resp) {
        size_t n;
        free(wk_mcp_dump(resp, &n));
        json_decref(resp);
    }
    json_decref(msg);
    return 0;
}
