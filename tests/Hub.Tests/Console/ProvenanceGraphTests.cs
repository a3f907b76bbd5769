using System.Text.Json.Nodes;
using HealthTrain.Hub.Console;

namespace HealthTrain.Hub.Tests.Console;

/// <summary>The provenance picture's layout from a PROV-JSON document written by hand.</summary>
public sealed class ProvenanceGraphTests
{
    private static JsonObject Prov() => JsonNode.Parse("""
        {
          "agent": { "ht:identity/alice": {}, "ht:identity/st-1": {}, "ht:identity/st-2": {}, "ht:hub": {} },
          "entity": {
            "ht:train/1": { "ht:ledgerEntry": 0 },
            "ht:result/job/1": { "ht:digest": "sha256:aa" }, "ht:result/job/2": { "ht:digest": "sha256:bb" },
            "ht:pooled/run/1/round/1": { "ht:round": 1 }, "ht:pooled/run/1/round/2": { "ht:round": 2 }
          },
          "activity": {
            "ht:run/1": {}, "ht:job/1": { "ht:round": 1, "ht:ledgerEntry": 4 }, "ht:job/2": { "ht:round": 2 },
            "ht:merge/run/1/round/1": { "ht:round": 1 }, "ht:merge/run/1/round/2": { "ht:round": 2 }
          },
          "used": {
            "_:u1": { "prov:activity": "ht:job/1", "prov:entity": "ht:train/1" }, "_:u2": { "prov:activity": "ht:job/2", "prov:entity": "ht:train/1" },
            "_:u3": { "prov:activity": "ht:merge/run/1/round/1", "prov:entity": "ht:result/job/1" },
            "_:u4": { "prov:activity": "ht:merge/run/1/round/2", "prov:entity": "ht:result/job/2" }
          },
          "wasGeneratedBy": {
            "_:g1": { "prov:entity": "ht:result/job/1", "prov:activity": "ht:job/1" }, "_:g2": { "prov:entity": "ht:result/job/2", "prov:activity": "ht:job/2" },
            "_:g3": { "prov:entity": "ht:pooled/run/1/round/1", "prov:activity": "ht:merge/run/1/round/1" },
            "_:g4": { "prov:entity": "ht:pooled/run/1/round/2", "prov:activity": "ht:merge/run/1/round/2" }
          },
          "wasInformedBy": { "_:i1": { "prov:informed": "ht:job/1", "prov:informant": "ht:run/1" }, "_:i2": { "prov:informed": "ht:job/2", "prov:informant": "ht:run/1" } },
          "wasAssociatedWith": {
            "_:a1": { "prov:activity": "ht:run/1", "prov:agent": "ht:identity/alice" }, "_:a2": { "prov:activity": "ht:job/1", "prov:agent": "ht:identity/st-1" },
            "_:a3": { "prov:activity": "ht:job/2", "prov:agent": "ht:identity/st-2" }, "_:a4": { "prov:activity": "ht:merge/run/1/round/1", "prov:agent": "ht:hub" }
          }
        }
        """)!.AsObject();

    [Fact]
    public void Nodes_are_layered_along_the_flow_of_data_with_agents_first()
    {
        var (nodes, edges) = ProvenanceGraph.Graph(Prov());
        var layer = nodes.ToDictionary(n => n.Id, n => n.Layer);
        Assert.All(nodes.Where(n => n.Kind == "agent"), n => Assert.Equal(0, n.Layer));
        Assert.Equal(1, layer["ht:train/1"]);
        Assert.Equal(1, layer["ht:run/1"]);
        Assert.Equal(2, layer["ht:job/1"]);
        Assert.Equal(3, layer["ht:result/job/1"]);
        Assert.Equal(4, layer["ht:merge/run/1/round/1"]);
        Assert.Equal(5, layer["ht:pooled/run/1/round/1"]);
        Assert.Equal(14, edges.Count);
    }

    [Fact]
    public void A_model_versions_picture_holds_only_the_rounds_up_to_it()
    {
        var (nodes, edges) = ProvenanceGraph.Graph(Prov(), uptoRound: 1);
        var ids = nodes.Select(n => n.Id).ToHashSet();
        Assert.DoesNotContain("ht:job/2", ids);
        Assert.DoesNotContain("ht:result/job/2", ids);
        Assert.DoesNotContain("ht:merge/run/1/round/2", ids);
        Assert.DoesNotContain("ht:identity/st-2", ids);
        Assert.Contains("ht:pooled/run/1/round/1", ids);
        Assert.All(edges, e => Assert.True(ids.Contains(e.From) && ids.Contains(e.To)));

        var svg = ProvenanceGraph.Render(Prov(), 1, "ht:pooled/run/1/round/1", "model sha256:cc").Value;
        Assert.Contains("<g class=\"node entity highlight\" data-id=\"ht:pooled/run/1/round/1\">", svg);
        Assert.Contains(">ledger #4</text>", svg);
        Assert.Contains(">sha256:aa</text>", svg);
        _ = System.Xml.Linq.XDocument.Parse(svg); // well-formed, to be served on its own as image/svg+xml
    }
}
