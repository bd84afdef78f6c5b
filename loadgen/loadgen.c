/*
 * omnihub-loadgen: drives one or more Omnihub nodes with subscribers and
 * open-loop publishers and checks every delivery. See --help and loadgen.h.
 */
#include <stdio.h>
#include <string.h>

#include "loadgen.h"

int
main(int argc, char **argv)
{
    struct lg_opts o;
    struct lg_report r = {0};
    int rc;

    if (argc > 1 && strcmp(argv[1], "merge") == 0) {
        return lg_merge_main(argc - 1, argv + 1);
    }
    rc = lg_opts_parse(&o, argc, argv);
    if (rc != 0) {
        return rc > 0 ? 0 : 2;
    }
    hdr_reset(&r.hist);
    lg_report_machine(&r);
    lg_report_params(&r, &o);
    if (lg_run(&o, &r) < 0) {
        rc = 2;
    }
    lg_report_print(&r, stdout);
    if (o.json != NULL && lg_report_write_json(&r, o.json) < 0) {
        rc = 2;
    }
    if (o.plot != NULL) {
        lg_report_plot(&r, o.plot);
    }
    if (rc == 0) {
        rc = lg_report_verdict(&r);
    }
    lg_report_free(&r);
    return rc;
}
