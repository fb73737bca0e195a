module spindlecrawlbench

go 1.19
