CREATE TABLE prt_com2 ( a INT ) PARTITION BY LIST ( a )
(
    PARTITION prt_com2_p1 FOR VALUES IN (1, 3, 5 ,7 ,9),
    PARTITION prt_com2_p2 FOR VALUES IN (2, 4, 6, 8,10),
    PARTITION prt_com2_p3 DEFAULT
);