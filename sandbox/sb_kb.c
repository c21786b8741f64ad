/* sb_kb: see sb_kb.h. */
#include "sb_kb.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_WORDS 8
#define EXCERPT 160 /* body bytes around the first hit */

const sb_article_t sb_articles[] = {
    {0, "8786177", "HELP", "Reset your password",
     "Forgot your password or locked out after too many attempts? Open id.example.com, choose Forgot password and "
     "follow the link we email you. Locked accounts unlock by themselves after 30 minutes."},
    {0, "8786178", "HELP", "Set up multi-factor authentication",
     "Install the Authenticator app on your phone, sign in to id.example.com and scan the QR code under Security. "
     "Keep the recovery codes somewhere safe."},
    {0, "8786179", "HELP", "Request access to a shared folder",
     "Raise a Request access request naming the folder and your line manager. Access is granted once your manager "
     "approves, usually within a working day."},
    {0, "8786180", "HELP", "Install the VPN client",
     "Download GlobalProtect from the software centre, connect to vpn.example.com and sign in with your usual "
     "password and a multi-factor prompt."},
    {1, "8785228", "ITKB", "Fix VPN disconnects after 30 minutes",
     "If your VPN tunnel drops after about 30 minutes and reconnects two minutes later, your office firewall is "
     "failing the IKE rekey. Workaround: reconnect before the 30-minute mark or use the London gateway "
     "vpn-lon.example.com while the network team fixes the firewall."},
    {1, "8785229", "ITKB", "Connect to the London VPN gateway",
     "Open GlobalProtect, choose Settings, add the portal vpn-lon.example.com and connect. Use it only while your "
     "own office gateway is affected by an outage."},
    {1, "8785230", "ITKB", "Report a network outage",
     "Tell us which office is affected, since when, and whether wired and Wi-Fi are both down. Outages affecting "
     "a whole office are handled as major incidents."},
    {1, "8785231", "ITKB", "Laptop does not wake from sleep",
     "After a BIOS update some laptops no longer wake from sleep: the power LED pulses and the screen stays black. "
     "Hold the power button for ten seconds, then install the latest BIOS from the software centre."},
    {1, "8785232", "ITKB", "Collect device logs with powercfg",
     "Run powercfg /sleepstudy in an administrator prompt and attach the HTML report, together with the System log "
     "exported from Event Viewer, to your request."},
    {2, "8790001", "FAC", "Book a meeting room",
     "Meeting rooms are booked in the calendar: add the room as a guest. Rooms with displays list their HDMI and "
     "USB-C adapters on the door."},
    {2, "8790002", "FAC", "Replace a broken monitor",
     "Raise a Repair broken hardware request with the asset tag on the back of the monitor. We bring a replacement "
     "within two working days."},
    {2, "8790003", "FAC", "Badge reader troubleshooting",
     "If a badge reader rejects a valid badge, hold the badge flat against the reader for two seconds. If it still "
     "fails, report it with the door's location so we can reset the reader."},
};
const int sb_narticles = sizeof sb_articles / sizeof sb_articles[0];

static const char *ifind(const char *hay, const char *needle, size_t n)
{
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n))
            return hay;
    return NULL;
}

/* The query's words (pointers into buf). */
static int words(const char *query, char *buf, size_t bufsz, const char **w, int max)
{
    int n = 0;
    snprintf(buf, bufsz, "%s", query);
    for (char *p = buf; *p && n < max;) {
        while (*p == ' ')
            *p++ = 0;
        if (!*p)
            break;
        w[n++] = p;
        while (*p && *p != ' ')
            p++;
    }
    return n;
}

int sb_kb_search(const char *query, int project, int *out, int max)
{
    char buf[256];
    const char *w[MAX_WORDS];
    int nw = words(query, buf, sizeof buf, w, MAX_WORDS), n = 0;
    for (int pass = 0; pass < 2 && nw; pass++) /* title hits first */
        for (int i = 0; i < sb_narticles && n < max; i++) {
            const sb_article_t *a = &sb_articles[i];
            if (project >= 0 && a->project != project)
                continue;
            int all = 1, title = 0;
            for (int k = 0; k < nw; k++) {
                int t = ifind(a->title, w[k], strlen(w[k])) != NULL;
                title |= t;
                all &= t || ifind(a->body, w[k], strlen(w[k])) != NULL;
            }
            if (all && title == (pass == 0))
                out[n++] = i;
        }
    return n;
}

void sb_kb_excerpt(const sb_article_t *a, const char *query, int highlight, char *out, size_t outsz)
{
    char buf[256];
    const char *w[MAX_WORDS];
    int nw = words(query, buf, sizeof buf, w, MAX_WORDS);
    const char *hit = NULL;
    size_t hitlen = 0;
    for (int k = 0; k < nw; k++) {
        const char *h = ifind(a->body, w[k], strlen(w[k]));
        if (h && (!hit || h < hit))
            hit = h, hitlen = strlen(w[k]);
    }
    const char *from = hit ? hit : a->body;
    for (int back = 0; from > a->body && back < EXCERPT / 3; back++) /* start at a word */
        from--;
    while (from > a->body && from[-1] != ' ')
        from--;
    size_t n = strlen(from) < EXCERPT ? strlen(from) : EXCERPT;
    if (!hit || !highlight || hit >= from + n) {
        snprintf(out, outsz, "%.*s", (int)n, from);
        return;
    }
    snprintf(out, outsz, "%.*s@@@hl@@@%.*s@@@endhl@@@%.*s", (int)(hit - from), from, (int)hitlen, hit,
             (int)(from + n > hit + hitlen ? from + n - hit - hitlen : 0), hit + hitlen);
}
